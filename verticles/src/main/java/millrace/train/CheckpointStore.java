package millrace.train;

import static millrace.model.CheckpointFormat.*;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import millrace.model.CheckpointFormat.Meta;
import millrace.model.CheckpointFormat.TokenizerFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import millrace.model.BaseModel;
import millrace.model.CheckpointReaders;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Vocabularies;

/**
 * Checkpoint directories {@code step-000000123/} under {@code root/<model>/}, each holding {@code model.safetensors},
 * {@code optimizer.safetensors} (AdamW's moments), {@code checkpoint.json} and the model's {@code tokenizer.json}. A
 * checkpoint is written to a temporary directory, fsynced and renamed into place, so a reader never sees half of one,
 * not even after a power cut; the newest is the one of the highest step recorded inside it; only the newest
 * {@code keep} are kept, and one that a reader holds ({@link CheckpointReaders}) waits for the next prune.
 */
public final class CheckpointStore {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);
    private static final ObjectMapper JSON = JsonSerde.MAPPER;
    /** A directory being written: {@code .writing-<pid>-<random>}. */
    private static final String WRITING = ".writing-";
    /** A directory written again, set aside until the new one is in place. */
    private static final String REPLACED = ".replaced-";

    private final Path dir;
    private final int keep;

    public CheckpointStore(Path root, String model, int keep) {
        this.dir = root.resolve(model);
        this.keep = keep;
    }

    /** A pretrained model's checkpoint, the tokenizer's files written from {@code tokenizer}. */
    public Path write(ModelTrainer trainer, Meta meta, ByteLevelBpe tokenizer) throws IOException {
        return write(trainer, meta, TokenizerFiles.written(tokenizer, false));
    }

    /** A checkpoint, the tokenizer's files written from {@code tokenizer}; {@code chat}: with ChatML's template. */
    public Path write(ModelTrainer trainer, Meta meta, ByteLevelBpe tokenizer, boolean chat) throws IOException {
        return write(trainer, meta, TokenizerFiles.written(tokenizer, chat));
    }

    /** A checkpoint of {@code trainer}, its tokenizer's files from {@code tokenizer}. */
    public Path write(ModelTrainer trainer, Meta meta, TokenizerFiles tokenizer) throws IOException {
        return write(trainer, meta, tokenizer, tmp -> { });
    }

    /** A checkpoint with more files ({@code extra} writes them: a DiLoCo replica's outer state). */
    public Path write(ModelTrainer trainer, Meta meta, TokenizerFiles tokenizer, DirectoryWriter extra) throws IOException {
        Path target = writeAtomically(dir, String.format("step-%09d", meta.step()), tmp -> {
            writeFiles(tmp, trainer, meta, tokenizer);
            extra.write(tmp);
        });
        prune();
        return target;
    }

    /**
     * A model's checkpoint without an optimizer state (an imported model: a trainer that continues it starts its
     * optimizer afresh).
     */
    public Path writeModel(LanguageModel model, Meta meta, TokenizerFiles tokenizer) throws IOException {
        Path target = writeAtomically(dir, String.format("step-%09d", meta.step()), tmp -> writeModelFiles(tmp, model, meta, tokenizer));
        prune();
        return target;
    }

    /** The files of a checkpoint without an optimizer: weights, the facts beside them, the tokenizer's. */
    public static void writeModelFiles(Path dir, LanguageModel model, Meta meta, TokenizerFiles tokenizer) throws IOException {
        Files.createFile(dir.resolve(READ_LOCK));
        try (OutputStream out = Files.newOutputStream(dir.resolve(WEIGHTS))) {
            model.save(out);
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(META).toFile(), meta);
        tokenizer.writeTo(dir, meta.config().contextLength());
    }

    /**
     * {@code base} as this model's step-0 checkpoint, unless the model has checkpoints: then they must be of the same
     * architecture and tokenizer (a trainer continues its own). The newest checkpoint either way.
     */
    public Path importUnlessTrained(BaseModel base) throws IOException {
        Optional<Path> latest = latest();
        if (latest.isPresent()) {
            Meta meta = readMeta(latest.get());
            if (!meta.config().withDropout(0f).equals(base.config().withDropout(0f)) || !meta.tokenizerId().equals(base.tokenizer().id())) {
                throw new IllegalArgumentException(dir + " holds another model (" + meta.config() + ", tokenizer "
                        + meta.tokenizerId() + ") than " + base.dir() + ": give it another --model-name or --data-dir");
            }
            return latest.get();
        }
        try (NDManager root = ModelTrainer.newRootManager(); LanguageModel model = base.load(root)) {
            Path written = writeModel(model, new Meta(dir.getFileName().toString(), model.config(), base.tokenizer().id(), 0, 0,
                    Float.NaN, null, System.currentTimeMillis(), null, null), base.tokenizerFiles());
            LOG.info("imported {} as {} ({} parameters)", base.dir(), written, model.parameterCount());
            return written;
        }
    }

    /** Writes the files of a directory. */
    @FunctionalInterface
    public interface DirectoryWriter {
        void write(Path dir) throws IOException;
    }

    /**
     * {@code parent/name}, written by {@code writer} into a temporary directory and renamed into place: a reader never
     * sees half of it (a crash leaves a {@code .writing-} directory, which is not a checkpoint). One that exists already
     * (written again at the same step) is renamed aside once the new one is whole, and deleted after the new one is in
     * place.
     */
    public static Path writeAtomically(Path parent, String name, DirectoryWriter writer) throws IOException {
        Files.createDirectories(parent);
        Path target = parent.resolve(name);
        Path aside = parent.resolve(REPLACED + name);
        Path tmp = Files.createTempDirectory(parent, WRITING + ProcessHandle.current().pid() + "-");
        try {
            writer.write(tmp);
            syncTree(tmp);
            if (Files.exists(target)) {
                if (Files.exists(aside)) deleteTree(aside);
                Files.move(target, aside, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            sync(parent);
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            if (!Files.exists(target) && Files.exists(aside)) Files.move(aside, target, StandardCopyOption.ATOMIC_MOVE);
            throw e;
        }
        if (Files.exists(aside)) deleteTree(aside);
        return target;
    }

    /** Flushes every file of a directory, and the directory itself, to the disk. */
    private static void syncTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path f : s.toList()) {
                if (Files.isRegularFile(f)) sync(f);
            }
        }
        sync(dir);
    }

    private static void sync(Path p) throws IOException {
        // a directory opens for reading only; its entries become durable with force()
        try (FileChannel c = FileChannel.open(p, Files.isDirectory(p) ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
            c.force(true);
        }
    }

    /**
     * Clears what writers killed half-way left in {@code parent}: {@code .writing-} directories (the caller holds the
     * lock of the only writer there), and {@code .replaced-} ones, which go back in place if the directory they stood
     * for is missing.
     */
    public static void cleanLeftovers(Path parent) throws IOException {
        if (!Files.isDirectory(parent)) return;
        try (Stream<Path> s = Files.list(parent)) {
            for (Path p : s.toList()) {
                String name = p.getFileName().toString();
                if (name.startsWith(WRITING)) {
                    deleteTree(p);
                } else if (name.startsWith(REPLACED)) {
                    Path original = parent.resolve(name.substring(REPLACED.length()));
                    if (Files.exists(original)) deleteTree(p);
                    else Files.move(p, original, StandardCopyOption.ATOMIC_MOVE);
                }
            }
        }
    }

    /** A checkpoint's files: weights, optimizer state, the facts beside them, the tokenizer's. */
    public static void writeFiles(Path dir, ModelTrainer trainer, Meta meta, TokenizerFiles tokenizer) throws IOException {
        writeState(dir, trainer, meta);
        tokenizer.writeTo(dir, meta.config().contextLength());
    }

    private static void writeState(Path dir, ModelTrainer trainer, Meta meta) throws IOException {
        Files.createFile(dir.resolve(READ_LOCK));
        try (OutputStream out = Files.newOutputStream(dir.resolve(WEIGHTS))) {
            trainer.model().save(out);
        }
        try (OutputStream out = Files.newOutputStream(dir.resolve(OPTIMIZER))) {
            trainer.saveOptimizer(out);
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(META).toFile(), meta);
    }

    /** The newest complete checkpoint (highest step), if any. */
    public Optional<Path> latest() throws IOException {
        return list().stream().reduce((a, b) -> b);
    }

    /** This model's directory. */
    public Path dir() {
        return dir;
    }

    /** A trainer that continues a checkpoint exactly: its weights, its step and its optimizer's moments. */
    public static ModelTrainer resume(Path checkpoint, TrainSettings settings, NDManager root) throws IOException {
        Meta meta = readMeta(checkpoint);
        return resume(checkpoint, settings, root, meta.step(), meta.tokensSeen());
    }

    /**
     * A trainer from a checkpoint's weights and optimizer state, counting from {@code step} (a DiLoCo replica that
     * joins from the run's checkpoint continues the step count of the replica that wrote it).
     */
    public static ModelTrainer resume(Path checkpoint, TrainSettings settings, NDManager root, long step, long tokensSeen)
            throws IOException {
        Meta meta = readMeta(checkpoint);
        TrainSettings run = meta.seed() == null ? settings : settings.withSeed(meta.seed());
        ModelTrainer trainer = new ModelTrainer(run, root, loadModel(checkpoint, root), step, tokensSeen);
        Path optimizer = checkpoint.resolve(OPTIMIZER);
        if (Files.exists(optimizer)) {
            try (var in = Files.newInputStream(optimizer)) {
                trainer.loadOptimizer(in);
            }
        }
        return trainer;
    }

    /** Complete checkpoints, oldest first by the step inside them (the directory name only breaks ties). */
    private List<Path> list() throws IOException {
        if (!Files.isDirectory(dir)) return List.of();
        record Found(Path dir, long step) {}
        List<Found> found = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith("step-")).toList()) {
                try {
                    found.add(new Found(p, readMeta(p).step()));
                } catch (NoSuchFileException e) {
                    // not a complete checkpoint, or pruned meanwhile
                } catch (IOException e) {
                    // an unreadable one (cut short by a crash before checkpoints were fsynced) is not a checkpoint
                    LOG.warn("ignoring {}: its {} cannot be read ({})", p, META, e.getMessage());
                }
            }
        }
        found.sort(Comparator.comparingLong(Found::step).thenComparing(f -> f.dir().getFileName().toString()));
        return found.stream().map(Found::dir).toList();
    }

    private void prune() throws IOException {
        List<Path> all = list();
        for (int i = 0; i < all.size() - keep; i++) CheckpointReaders.deleteUnlessRead(all.get(i));
    }

    public static void deleteTree(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path f : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
        }
    }
}
