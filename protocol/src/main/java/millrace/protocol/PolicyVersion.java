package millrace.protocol;

import java.util.Map;

/**
 * A servable model version on the compacted {@code millrace.policy} topic (key: model name).
 *
 * @param model model name
 * @param version monotonically increasing version
 * @param parent the version it was derived from (0 for the pretrained base)
 * @param checkpointLocation where its weights are
 * @param ratingsApplied how many ratings went into it since its parent
 * @param metrics named evaluation figures (loss, reward margin, ...)
 * @param createdAtMillis when
 */
public record PolicyVersion(
        String model, long version, long parent, String checkpointLocation, long ratingsApplied,
        Map<String, Double> metrics, long createdAtMillis) {

    public PolicyVersion {
        Check.text("model", model);
        Check.nonNegative("version", version);
        Check.nonNegative("parent", parent);
        Check.text("checkpointLocation", checkpointLocation);
        Check.nonNegative("ratingsApplied", ratingsApplied);
        metrics = metrics == null ? Map.of() : Map.copyOf(metrics);
        Check.nonNegative("createdAtMillis", createdAtMillis);
    }
}
