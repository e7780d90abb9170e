package millrace.web;

/**
 * The web role's limits: what it serves, how much generation may wait, how fast one rater may go.
 *
 * @param model the model whose newest policy version (or checkpoint) is served
 * @param maxQueuedGenerations generations that may wait for their turn; past that, 503 with Retry-After
 * @param maxQueueWaitMillis a generation that waited this long is refused (503) rather than answered late
 * @param maxBatchRows answers decoded together, one token each per step (a comparison is two): requests that arrive
 *     while others are being answered join them up to this many
 * @param ratingsPerSecond sustained ratings per rater (token bucket)
 * @param ratingsBurst ratings a rater may post at once
 * @param comparesPerSecond sustained comparisons per rater (each costs two generations)
 * @param comparesBurst comparisons a rater may ask for at once
 * @param maxComparisons comparisons remembered for rating (the oldest are forgotten first)
 * @param comparisonTtlMillis how long a comparison can be rated
 */
public record WebSettings(String model, int maxQueuedGenerations, long maxQueueWaitMillis, int maxBatchRows,
        double ratingsPerSecond,
        int ratingsBurst, double comparesPerSecond, int comparesBurst, int maxComparisons, long comparisonTtlMillis) {

    public WebSettings {
        if (model == null || model.isBlank()) throw new IllegalArgumentException("the served model needs a name");
        if (maxQueuedGenerations < 1) throw new IllegalArgumentException("--max-queued-generations must be >= 1");
        if (maxQueueWaitMillis < 1) throw new IllegalArgumentException("--max-queue-wait must be > 0");
        if (maxBatchRows < 2) throw new IllegalArgumentException("--max-batch-rows must be >= 2 (a comparison's two answers)");
        if (ratingsPerSecond <= 0 || ratingsBurst < 1) throw new IllegalArgumentException("rating rate limits must be > 0");
        if (comparesPerSecond <= 0 || comparesBurst < 1) throw new IllegalArgumentException("compare rate limits must be > 0");
        if (maxComparisons < 1 || comparisonTtlMillis < 1000) {
            throw new IllegalArgumentException("comparisons: at least 1 kept, for at least a second");
        }
    }

    /** The defaults of {@code up}: a few people rating one model on a laptop or a small team on a cluster. */
    public static WebSettings defaults(String model) {
        return new WebSettings(model, 16, 30_000, 8, 2, 30, 1, 10, 2000, 3_600_000);
    }
}
