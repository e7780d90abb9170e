package millrace.protocol;

import java.util.List;

/** Topic names: a contract shared by every stage and by the Kubernetes manifests. */
public final class Topics {
    public static final String DOCS = "millrace.docs";
    public static final String DOCS_CLEAN = "millrace.docs.clean";
    public static final String DOCS_REJECTED = "millrace.docs.rejected";
    /** The dedup stage's claim log: one partition, kept forever; its order decides which of two duplicates is first. */
    public static final String DEDUP_CLAIMS = "millrace.dedup.claims";
    public static final String SHARDS = "millrace.shards";
    public static final String RATINGS = "millrace.ratings";
    public static final String POLICY = "millrace.policy";
    public static final String CHECKPOINTS = "millrace.checkpoints";
    /** A streaming instruction set: supervised fine-tuning examples ({@code ./millrace sft --from-topic}). */
    public static final String SFT = "millrace.sft";
    /** Who may rate: name → token hash, created, revoked. Every web replica reads all of it. */
    public static final String RATERS = "millrace.raters";
    /** Trainer replicas of one model (DiLoCo): pseudo-gradient chunks and round closes, one partition, kept a day. */
    public static final String SYNC = "millrace.sync";

    /** Every topic, in data-flow order. */
    public static final List<String> ALL =
            List.of(DOCS, DEDUP_CLAIMS, DOCS_CLEAN, DOCS_REJECTED, SHARDS, SYNC, SFT, RATERS, RATINGS, POLICY, CHECKPOINTS);

    /** Topics that keep only the latest record per key (one entry per model or rater name). */
    public static final List<String> COMPACTED = List.of(RATERS, POLICY, CHECKPOINTS);

    /** Topics with exactly one partition: their order is global. */
    public static final List<String> SINGLE_PARTITION = List.of(DEDUP_CLAIMS, SYNC);

    /**
     * Topics kept for a limited time, in milliseconds: a replica replays {@code millrace.sync} from its newest
     * checkpoint, never from the start, and the pseudo-gradients are as big as the model.
     */
    public static final java.util.Map<String, Long> RETENTION_MS = java.util.Map.of(SYNC, 24L * 3600 * 1000);

    private Topics() {}
}
