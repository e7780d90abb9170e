package millrace.protocol;

import java.util.Map;

/**
 * A servable model version on the compacted {@code millrace.policy} topic (key: model name): the web role serves the
 * newest version of its model, and every answer names the version that produced it.
 *
 * @param model model name
 * @param version increasing version; 1 is the base itself, before any rating
 * @param parent the version it was derived from (0 for the first)
 * @param checkpointLocation where its weights are (a checkpoint directory in the trainer's format)
 * @param base the pretrained (or SFT) checkpoint it was derived from, and the reference its KL is measured against
 * @param ratingsApplied ratings that went into its weights in all, since the base
 * @param ratingsOffsets per {@code millrace.ratings} partition, the offset up to which the ratings log is consumed:
 *     a rating at (partition, offset) is in this version's lineage when {@code offset < ratingsOffsets[partition]}
 * @param metrics named evaluation figures (KL to the reference, held-out perplexity, reward margin and accuracy, ...)
 * @param note why this version exists, for people ("3 ratings", "rollback: KL 0.61 > 0.5", "rebuild without ann")
 * @param createdAtMillis when
 */
public record PolicyVersion(
        String model, long version, long parent, String checkpointLocation, String base, long ratingsApplied,
        Map<String, Long> ratingsOffsets, Map<String, Double> metrics, String note, long createdAtMillis) {

    public PolicyVersion {
        Check.text("model", model);
        Check.nonNegative("version", version);
        Check.nonNegative("parent", parent);
        Check.text("checkpointLocation", checkpointLocation);
        Check.text("base", base);
        Check.nonNegative("ratingsApplied", ratingsApplied);
        ratingsOffsets = ratingsOffsets == null ? Map.of() : Map.copyOf(ratingsOffsets);
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
        note = note == null ? "" : note;
        Check.nonNegative("createdAtMillis", createdAtMillis);
    }
}
