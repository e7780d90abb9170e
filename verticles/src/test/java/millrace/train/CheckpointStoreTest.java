package millrace.train;

import millrace.model.CheckpointFormat;
import millrace.model.CheckpointReaders;
import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import millrace.kafka.KafkaSettings;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoints on disk: which is newest, what pruning may delete, what a killed writer leaves, which model a name is. */
class CheckpointStoreTest {
    @TempDir
    Path dir;

    private static final Gpt2Config CONFIG = Gpt2Config.tiny(50257, 8);

    private static CheckpointFormat.Meta meta(long step) {
        return new CheckpointFormat.Meta("m", CONFIG, "r50k", step, step * 10, 1f, null, step, null, 1L);
    }

    /** A checkpoint directory with only its facts: enough for listing, not for loading. */
    private static void writeMetaOnly(Path modelDir, String name, long step) throws Exception {
        CheckpointStore.writeAtomically(modelDir, name,
                tmp -> JsonSerde.MAPPER.writeValue(tmp.resolve(CheckpointFormat.META).toFile(), meta(step)));
    }

    @Test
    void theNewestIsTheHighestStepRecordedInside() throws Exception {
        writeMetaOnly(dir.resolve("m"), "step-000000900", 9);
        writeMetaOnly(dir.resolve("m"), "step-000000010", 10);
        assertEquals("step-000000010", new CheckpointStore(dir, "m", 5).latest().orElseThrow().getFileName().toString());
    }

    /** Writes checkpoints of a tiny model, keeping one: {@code write.at(step)} writes the next. */
    private interface Steps {
        void run(CheckpointStore store, Writer write, Path first) throws Exception;
    }

    private interface Writer {
        Path at(long step) throws Exception;
    }

    private void withStore(Steps steps) throws Exception {
        ByteLevelBpe tokenizer = Tokenizers.load("r50k");
        TrainSettings demo = TrainSettings.tinyDemo("r50k", 50257, 8);
        CheckpointStore store = new CheckpointStore(dir, "m", 1);
        try (NDManager root = ModelTrainer.newRootManager();
                ModelTrainer trainer = new ModelTrainer(demo, root, LanguageModel.initialize(CONFIG, root), 0, 0)) {
            Writer write = step -> store.write(trainer, meta(step), tokenizer);
            steps.run(store, write, write.at(1));
        }
    }

    @Test
    void aReaderInAnotherProcessHoldsACheckpointAgainstPruning() throws Exception {
        withStore((store, write, first) -> {
            // another process holds a shared POSIX lock on the checkpoint's lock file, as a reader there does
            Process reader = new ProcessBuilder("python3", "-c", "import fcntl, sys, time\n"
                    + "f = open(sys.argv[1]); fcntl.lockf(f, fcntl.LOCK_SH); print('locked', flush=True); time.sleep(30)",
                    first.resolve(CheckpointFormat.READ_LOCK).toString()).redirectErrorStream(true).start();
            try {
                assertEquals("locked", new java.io.BufferedReader(new java.io.InputStreamReader(reader.getInputStream())).readLine());
                CheckpointFormat.readMeta(first); // this process opening and closing checkpoint.json changes nothing
                write.at(2);
                assertTrue(Files.exists(first.resolve(CheckpointFormat.WEIGHTS)), "pruned under another process's reader");
            } finally {
                reader.destroyForcibly().waitFor();
            }
            write.at(3);
            assertFalse(Files.exists(first), "pruned once the other process let go");
        });
    }

    @Test
    void pruningLeavesACheckpointThatIsBeingRead() throws Exception {
        withStore((store, write, first) -> {
            try (CheckpointReaders.Reading reading = CheckpointReaders.open(first);
                    CheckpointReaders.Reading again = CheckpointReaders.open(first)) {
                Path second = write.at(2);
                assertTrue(Files.exists(first.resolve(CheckpointFormat.WEIGHTS)), "pruned under its reader");
                write.at(3);
                assertFalse(Files.exists(second), "a checkpoint nobody reads is pruned");
            }
            write.at(4);
            assertFalse(Files.exists(first), "pruned once its readers are done");
            try (NDManager m = NDManager.newBaseManager()) {
                assertNotNull(CheckpointFormat.loadModel(store.latest().orElseThrow(), m));
            }
            Exception gone = assertThrows(java.nio.file.NoSuchFileException.class, () -> CheckpointReaders.open(first));
            assertTrue(gone.getMessage().contains("no such checkpoint"), gone.getMessage());
        });
    }

    @Test
    void leftoversOfKilledWritersAreCleared() throws Exception {
        Path model = dir.resolve("m");
        writeMetaOnly(model, "step-000000001", 1);
        Path dead = Files.createDirectories(model.resolve(".writing-2147483000-123"));
        // killed between setting the old step-2 aside and moving the new one in: the old one goes back
        writeMetaOnly(model, ".replaced-step-000000002", 2);
        // killed after the new step-1 was in place: the old one is deleted
        writeMetaOnly(model, ".replaced-step-000000001", 1);

        CheckpointStore.cleanLeftovers(model);
        assertFalse(Files.exists(dead));
        assertTrue(Files.exists(model.resolve("step-000000002").resolve(CheckpointFormat.META)));
        assertFalse(Files.exists(model.resolve(".replaced-step-000000002")));
        assertFalse(Files.exists(model.resolve(".replaced-step-000000001")));
        assertEquals(2, new CheckpointStore(dir, "m", 5).latest().map(p -> {
            try {
                return CheckpointFormat.readMeta(p).step();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).orElseThrow());
    }

    @Test
    void aModelNameHoldsOneConfigAndOneTrainer() throws Exception {
        // no broker is reached: both refusals come before any Kafka client is used
        KafkaSettings nowhere = new KafkaSettings("127.0.0.1:1", "t");
        TrainSettings demo = TrainSettings.tinyDemo("r50k", 50257, 8);
        writeMetaOnly(dir.resolve("millrace"), "step-000000005", 5);
        Gpt2Config other = new Gpt2Config(2, 2, 64, 16, 50257, 0f);
        TrainSettings longer = new TrainSettings("millrace", other, "r50k", 8, demo.schedule(), demo.clipNorm(),
                demo.adam(), 1, 10, 3, 0);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new TrainWorker(nowhere, longer, dir).close());
        assertTrue(e.getMessage().contains("--model-name"), e.getMessage());
        assertTrue(Files.exists(dir.resolve("millrace").resolve("step-000000005")), "the old model's checkpoint stays");

        TrainSettings fresh = new TrainSettings("other", CONFIG, "r50k", 8, demo.schedule(), demo.clipNorm(),
                demo.adam(), 1, 10, 3, 0);
        try (TrainWorker first = new TrainWorker(nowhere, fresh, dir)) {
            IllegalStateException second = assertThrows(IllegalStateException.class,
                    () -> new TrainWorker(nowhere, fresh, dir).close());
            assertTrue(second.getMessage().contains("another trainer"), second.getMessage());
        }
        // released with the first: a third may start
        new TrainWorker(nowhere, fresh, dir).close();
    }
}
