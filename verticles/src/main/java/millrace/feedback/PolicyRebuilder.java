package millrace.feedback;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import millrace.kafka.KafkaSettings;

/**
 * {@code ./millrace feedback rebuild}: the newest version's lineage replayed onto its base (or another one), leaving
 * out the ratings of some raters, and published as the next version. Runs where the feedback role does not: both
 * would write versions of one policy.
 */
public final class PolicyRebuilder {
    /** What a rebuild made. */
    public record Outcome(long version, long ratingsApplied, int updates, java.util.Map<String, Double> metrics, Path checkpoint) {}

    private PolicyRebuilder() {}

    /**
     * @param dataDir where the policies are ({@code <data-dir>/policies/<model>})
     * @param base another base checkpoint, or null for the lineage's own
     * @param exclude raters whose ratings to leave out (besides those the lineage already leaves out)
     */
    public static Outcome rebuild(KafkaSettings kafka, Path dataDir, String model, Path base, Set<String> exclude)
            throws IOException {
        PolicyStore store = new PolicyStore(dataDir, model, 5);
        store.lock();
        try (PolicyPublisher publisher = new PolicyPublisher(kafka, store)) {
            Path latest = store.latest().orElseThrow(() -> new IllegalArgumentException("model '" + model
                    + "' has no policy under " + store.dir() + " (rate its answers first)"));
            PolicyStore.Meta meta = PolicyStore.readMeta(latest);
            FeedbackSettings settings = meta.settings();
            Path newBase = base != null ? store.copyBase(base) : Path.of(meta.base());
            Set<String> excluded = new HashSet<>(meta.excludedRaters());
            excluded.addAll(exclude);
            // the lineage's own text on its own base; a new base starts a new lineage, with the stream's first rows
            Policy.Text text = base == null ? ShardRows.read(kafka, meta.validationRows(), meta.pretrainingRows())
                    : ShardRows.first(kafka, newBase);
            try (Policy policy = Policy.fromBase(settings, newBase, text)) {
                List<FeedbackAudit.Entry> entries = Rebuild.replay(kafka, policy, meta.updates(), excluded);
                String note = "rebuild of version " + meta.version() + (base != null ? " onto " + base.getFileName() : "")
                        + (exclude.isEmpty() ? "" : " without " + String.join(", ", exclude.stream().sorted().toList()));
                PolicyStore.Meta written = publisher.write(policy, meta.version() + 1, meta.version(), meta.offsets(),
                        entries, newBase.toAbsolutePath().toString(), excluded, note);
                return new Outcome(written.version(), written.ratingsApplied(), written.updates().size(), written.metrics(),
                        store.version(written.version()));
            }
        } finally {
            store.unlock();
        }
    }
}
