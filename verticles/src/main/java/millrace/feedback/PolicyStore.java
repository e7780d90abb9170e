package millrace.feedback;

import ai.djl.ndarray.NDManager;
import millrace.model.BaseModel;
import millrace.model.CheckpointFormat;
import millrace.model.LanguageModel;
import millrace.raters.RaterTokens;
import millrace.model.CheckpointReaders;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import millrace.ProcessLock;
import millrace.protocol.JsonSerde;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;

/**
 * A model's policy versions on disk, under {@code <data-dir>/policies/<model>/}: {@code v-000000007/} holds a
 * checkpoint in the trainer's format (so {@code generate}, {@code eval} and {@code export} work on a policy) plus
 * {@code policy.json}, its {@link Meta}; {@code base-…/} holds a copy of the base checkpoint's weights, so that a
 * policy stays rebuildable after the trainer prunes its checkpoints; {@code audit/} says which ratings each version
 * consumed. Directories are written atomically; only the newest versions are kept, and the bases they name.
 */
final class PolicyStore {
    static final String POLICY = "policy.json";
    private static final ObjectMapper JSON = JsonSerde.MAPPER;

    /**
     * One update of a policy's lineage, the {@code index}th: the ratings log from {@code from} to {@code to} (per
     * partition, offsets) was consumed; {@code applied} false when the update was rolled back.
     */
    record Update(long index, Map<String, Long> from, Map<String, Long> to, boolean applied, String note) {
        Update {
            from = Map.copyOf(from);
            to = Map.copyOf(to);
        }
    }

    /**
     * The facts of a policy version beside its weights: with the base, the seed and the ratings log, they determine
     * the weights.
     *
     * @param offsets per ratings partition, the next offset to consume
     * @param updates the lineage since the base, in order
     * @param baseMetrics the reference's own figures (its held-out perplexity), for the bounds
     * @param excludedRaters raters whose ratings this lineage leaves out (a rebuild's {@code --exclude-rater})
     * @param settings what the lineage was learned with: a restart and a rebuild replay it with the same
     * @param validationRows where the held-out rows of its perplexity are ({@code partition:offset:row} of the shards)
     * @param pretrainingRows where the rows of its pretraining mix are
     */
    record Meta(String model, long version, long parent, String base, long seed, Map<String, Long> offsets,
            List<Update> updates, long ratingsApplied, Map<String, Double> metrics, Map<String, Double> baseMetrics,
            java.util.Set<String> excludedRaters, FeedbackSettings settings, List<String> validationRows,
            List<String> pretrainingRows, String note, long createdAtMillis) {
        Meta {
            validationRows = validationRows == null ? List.of() : List.copyOf(validationRows);
            pretrainingRows = pretrainingRows == null ? List.of() : List.copyOf(pretrainingRows);
            offsets = Map.copyOf(offsets);
            updates = List.copyOf(updates);
            excludedRaters = excludedRaters == null ? java.util.Set.of() : java.util.Set.copyOf(excludedRaters);
            metrics = Map.copyOf(metrics);
            baseMetrics = Map.copyOf(baseMetrics);
        }
    }

    private final Path dir;
    private final int keep;
    private ProcessLock lock;

    PolicyStore(Path dataDir, String model, int keep) {
        this.dir = dataDir.resolve("policies").resolve(model);
        this.keep = keep;
    }

    Path dir() {
        return dir;
    }

    Path auditDir() {
        return dir.resolve("audit");
    }

    /**
     * Takes this store for one writer: the feedback role while it runs, or a rebuild — never both (they would number
     * versions on top of each other).
     */
    void lock() throws IOException {
        Files.createDirectories(dir);
        lock = ProcessLock.tryLock(dir.resolve(".lock")).orElseThrow(() -> new IllegalStateException("the policies in " + dir
                + " are being written by another process (a running feedback role, or a rebuild): stop it first"));
    }

    void unlock() {
        if (lock != null) lock.close();
        lock = null;
    }

    /** A version's directory. */
    Path version(long version) {
        return dir.resolve(String.format("v-%09d", version));
    }

    /** The newest version written (by the version its meta records), if any. */
    Optional<Path> latest() throws IOException {
        return versions().stream().reduce((a, b) -> b);
    }

    static Meta readMeta(Path version) throws IOException {
        return JSON.readValue(version.resolve(POLICY).toFile(), Meta.class);
    }

    /**
     * Writes a version: its weights and optimizer state (the trainer's), its tokenizer (its base's), its meta; then
     * prunes.
     */
    Path write(ModelTrainer policy, CheckpointFormat.Meta checkpoint, Meta meta) throws IOException {
        Path written = CheckpointStore.writeAtomically(dir, version(meta.version()).getFileName().toString(), tmp -> {
            CheckpointStore.writeFiles(tmp, policy, checkpoint, CheckpointFormat.TokenizerFiles.of(Path.of(meta.base())));
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.resolve(POLICY).toFile(), meta);
        });
        prune();
        return written;
    }

    /**
     * A copy of a base's weights, configuration and tokenizer files (no optimizer: a policy starts its own) as a
     * checkpoint: a checkpoint's under a name of its step, a Hugging Face directory's under a name of its path, so that
     * the same base again is the same copy.
     */
    Path copyBase(Path base) throws IOException {
        BaseModel model = BaseModel.of(base);
        String name = model.huggingFace()
                ? "base-hf-" + RaterTokens.sha256(base.toAbsolutePath().normalize().toString()).substring(0, 12)
                : String.format("base-%s-%09d", CheckpointFormat.readMeta(base).model(), CheckpointFormat.readMeta(base).step());
        Path target = dir.resolve(name);
        if (Files.isRegularFile(target.resolve(CheckpointFormat.META))) return target;
        if (model.huggingFace()) {
            try (NDManager root = ModelTrainer.newRootManager(); LanguageModel loaded = model.load(root)) {
                CheckpointFormat.Meta meta = new CheckpointFormat.Meta(name, loaded.config(), model.tokenizer().id(), 0, 0,
                        Float.NaN, null, System.currentTimeMillis(), null, null);
                return CheckpointStore.writeAtomically(dir, name, tmp -> CheckpointStore.writeModelFiles(tmp, loaded, meta,
                        model.tokenizerFiles()));
            }
        }
        return CheckpointStore.writeAtomically(dir, name, tmp -> {
            for (String file : List.of(CheckpointFormat.READ_LOCK, CheckpointFormat.WEIGHTS, CheckpointFormat.META)) {
                if (Files.exists(base.resolve(file))) Files.copy(base.resolve(file), tmp.resolve(file));
            }
            model.tokenizerFiles().writeTo(tmp, model.config().contextLength());
        });
    }

    private List<Path> versions() throws IOException {
        if (!Files.isDirectory(dir)) return List.of();
        List<Path> found = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith("v-")).toList()) {
                if (Files.isRegularFile(p.resolve(POLICY))) found.add(p);
            }
        }
        found.sort(Comparator.comparingLong(p -> {
            try {
                return readMeta(p).version();
            } catch (IOException e) {
                return -1;
            }
        }));
        return found;
    }

    /** Keeps the newest versions and the bases they were derived from; clears half-written directories. */
    private void prune() throws IOException {
        List<Path> all = versions();
        Set<String> bases = new HashSet<>();
        for (int i = 0; i < all.size(); i++) {
            if (i < all.size() - keep) CheckpointReaders.deleteUnlessRead(all.get(i)); // not under a serving web role
            else bases.add(Path.of(readMeta(all.get(i)).base()).getFileName().toString());
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String name = p.getFileName().toString();
                if (name.startsWith("base-") && !bases.contains(name)) CheckpointReaders.deleteUnlessRead(p);
                else if (name.startsWith(".writing-")) CheckpointStore.deleteTree(p);
            }
        }
    }
}
