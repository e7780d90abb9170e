package millrace.train;

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
import millrace.model.Gpt;
import millrace.model.GptConfig;
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
    /**
     * The facts beside the weights. {@code positions}: per {@code millrace.shards} partition, {@code "offset:rows"} —
     * every training row before the shard at {@code offset}, and its first {@code rows} rows, went into these weights.
     * {@code seed}: the run's random seed; with the step it determines every later dropout mask (null in checkpoints
     * written before it was recorded).
     */
    public record Meta(String model, GptConfig config, String tokenizerId, long step, long tokensSeen, float trainLoss,
            Float validationLoss, long createdAtMillis, Map<String, String> positions, Long seed) {
        public Meta {
            positions = positions == null ? Map.of() : Map.copyOf(positions);
        }
    }

    public static final String WEIGHTS = "model.safetensors";
    public static final String META = "checkpoint.json";
    public static final String TOKENIZER = "tokenizer.json";
    public static final String OPTIMIZER = "optimizer.safetensors";
    /** Hugging Face's tokenizer settings, with the chat template of a chat model. */
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
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

    /** A pretrained model's checkpoint. */
    public Path write(GptTrainer trainer, Meta meta, ByteLevelBpe tokenizer) throws IOException {
        return write(trainer, meta, tokenizer, false);
    }

    /** A checkpoint; {@code chat} for a model fine-tuned on conversations ({@link #isChatModel}). */
    public Path write(GptTrainer trainer, Meta meta, ByteLevelBpe tokenizer, boolean chat) throws IOException {
        Path target = writeAtomically(dir, String.format("step-%09d", meta.step()),
                tmp -> writeFiles(tmp, trainer, meta, tokenizer, chat));
        prune();
        return target;
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
     * Clears what writers killed half-way left in {@code parent}: {@code .writing-<pid>-} directories of processes that
     * are gone (a live writer's are left alone), and {@code .replaced-} ones, which go back in place if the directory
     * they stood for is missing.
     */
    public static void cleanLeftovers(Path parent) throws IOException {
        if (!Files.isDirectory(parent)) return;
        try (Stream<Path> s = Files.list(parent)) {
            for (Path p : s.toList()) {
                String name = p.getFileName().toString();
                if (name.startsWith(WRITING) && !writerAlive(name.substring(WRITING.length()))) {
                    deleteTree(p);
                } else if (name.startsWith(REPLACED)) {
                    Path original = parent.resolve(name.substring(REPLACED.length()));
                    if (Files.exists(original)) deleteTree(p);
                    else Files.move(p, original, StandardCopyOption.ATOMIC_MOVE);
                }
            }
        }
    }

    private static boolean writerAlive(String pidAndSuffix) {
        int dash = pidAndSuffix.indexOf('-');
        try {
            long pid = Long.parseLong(dash < 0 ? pidAndSuffix : pidAndSuffix.substring(0, dash));
            return pid != ProcessHandle.current().pid() && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
        } catch (NumberFormatException e) {
            return false; // written before the pid was in the name
        }
    }

    /** A checkpoint's files: weights, optimizer state, the facts beside them, the tokenizer. */
    public static void writeFiles(Path dir, GptTrainer trainer, Meta meta, ByteLevelBpe tokenizer, boolean chat) throws IOException {
        writeState(dir, trainer, meta);
        Vocabularies.writeHuggingFace(tokenizer, dir.resolve(TOKENIZER));
        Vocabularies.writeHuggingFaceConfig(tokenizer, meta.config().blockSize(), chat, dir.resolve(TOKENIZER_CONFIG));
    }

    /**
     * Whether a checkpoint is a chat model — fine-tuned on conversations, so prompts go through its chat template: its
     * {@code tokenizer_config.json} names one, as Hugging Face marks chat models. A pretrained model whose vocabulary
     * has the markers (every trained one does) is not.
     */
    public static boolean isChatModel(Path checkpoint) throws IOException {
        return Vocabularies.chatTemplate(checkpoint.resolve(TOKENIZER_CONFIG)).isPresent();
    }

    /** A checkpoint's files, its tokenizer copied from another checkpoint of the same (faster than writing it again). */
    public static void writeFiles(Path dir, GptTrainer trainer, Meta meta, Path tokenizerOf) throws IOException {
        writeState(dir, trainer, meta);
        Files.copy(tokenizerOf.resolve(TOKENIZER), dir.resolve(TOKENIZER));
        if (Files.exists(tokenizerOf.resolve(TOKENIZER_CONFIG))) {
            Files.copy(tokenizerOf.resolve(TOKENIZER_CONFIG), dir.resolve(TOKENIZER_CONFIG));
        }
    }

    private static void writeState(Path dir, GptTrainer trainer, Meta meta) throws IOException {
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

    /** {@code dir} itself, if it is a checkpoint directory; a clear error otherwise. */
    public static Path requireCheckpoint(Path dir) {
        if (!Files.isRegularFile(dir.resolve(META))) throw new IllegalArgumentException("not a checkpoint directory: " + dir);
        return dir;
    }

    public static Meta readMeta(Path checkpoint) throws IOException {
        return JSON.readValue(checkpoint.resolve(META).toFile(), Meta.class);
    }

    /** The tokenizer a checkpoint's model was trained with. */
    public static ByteLevelBpe loadTokenizer(Path checkpoint) throws IOException {
        return Vocabularies.read(checkpoint.resolve(TOKENIZER));
    }

    /** A trainer that continues a checkpoint exactly: its weights, its step and its optimizer's moments. */
    public static GptTrainer resume(Path checkpoint, TrainSettings settings, NDManager root) throws IOException {
        Meta meta = readMeta(checkpoint);
        TrainSettings run = meta.seed() == null ? settings : settings.withSeed(meta.seed());
        GptTrainer trainer = new GptTrainer(run, root, loadModel(checkpoint, root), meta.step(), meta.tokensSeen());
        Path optimizer = checkpoint.resolve(OPTIMIZER);
        if (Files.exists(optimizer)) {
            try (var in = Files.newInputStream(optimizer)) {
                trainer.loadOptimizer(in);
            }
        }
        return trainer;
    }

    /** Loads the model of a checkpoint directory into {@code manager}; pruning leaves it alone meanwhile. */
    public static Gpt loadModel(Path checkpoint, NDManager manager) throws IOException {
        try (CheckpointReaders.Reading ignored = CheckpointReaders.open(checkpoint)) {
            return Gpt.load(readMeta(checkpoint).config(), manager, checkpoint.resolve(WEIGHTS));
        }
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
