package millrace.cli;

import millrace.web.WebSettings;
import picocli.CommandLine.Option;

/** The web role's limits (what it serves is the train options' --model-name unless --serve-model says otherwise). */
final class WebOptions {
    private static final WebSettings DEFAULTS = WebSettings.defaults("millrace");

    @Option(names = "--serve-model", description = "Model whose newest policy version (or checkpoint) the web role serves (default: --model-name).")
    String serveModel;

    @Option(names = "--max-queued-generations", description = "Generations that may wait their turn; beyond, 503 with Retry-After (default: 16).")
    int maxQueued = DEFAULTS.maxQueuedGenerations();

    @Option(names = "--max-queue-wait-ms", description = "A generation that waited this long is refused rather than answered late (default: 30000).")
    long maxQueueWaitMillis = DEFAULTS.maxQueueWaitMillis();

    @Option(names = "--max-batch-rows", description = "Answers decoded together, a token each per step: requests that arrive while others are being answered join them up to this many (default: 8).")
    int maxBatchRows = DEFAULTS.maxBatchRows();

    @Option(names = "--ratings-per-second", description = "Sustained ratings per rater; beyond, 429 with Retry-After (default: 2).")
    double ratingsPerSecond = DEFAULTS.ratingsPerSecond();

    @Option(names = "--ratings-burst", description = "Ratings a rater may post at once (default: 30).")
    int ratingsBurst = DEFAULTS.ratingsBurst();

    @Option(names = "--compares-per-second", description = "Sustained comparisons per rater (default: 1).")
    double comparesPerSecond = DEFAULTS.comparesPerSecond();

    @Option(names = "--compares-burst", description = "Comparisons a rater may ask for at once (default: 10).")
    int comparesBurst = DEFAULTS.comparesBurst();

    WebSettings settings(String trainedModel) {
        return new WebSettings(serveModel != null ? serveModel : trainedModel, maxQueued, maxQueueWaitMillis, maxBatchRows,
                ratingsPerSecond, ratingsBurst, comparesPerSecond, comparesBurst, DEFAULTS.maxComparisons(),
                DEFAULTS.comparisonTtlMillis());
    }
}
