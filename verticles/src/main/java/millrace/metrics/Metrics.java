package millrace.metrics;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import millrace.protocol.RejectReason;
import millrace.protocol.Split;

/**
 * The metrics catalogue: every counter, gauge and histogram Millrace exposes, in one place. Names follow
 * {@code millrace_<stage>_<what>_<unit>}; labels are bounded (reason, split, verdict, stage), never ids.
 */
public final class Metrics {
    private static final PrometheusRegistry REGISTRY = PrometheusRegistry.defaultRegistry;

    static {
        JvmMetrics.builder().register(REGISTRY);
    }

    // ingest
    public static final Counter INGEST_DOCUMENTS = Counter.builder().name("millrace_ingest_documents_total")
            .help("Documents written to millrace.docs").labelNames("content_type").register();
    public static final Counter INGEST_BYTES = Counter.builder().name("millrace_ingest_bytes_total")
            .help("Bytes of text written to millrace.docs").register();
    public static final Counter INGEST_REJECTED = Counter.builder().name("millrace_ingest_rejected_total")
            .help("Inputs the ingest stage could not turn into documents, by reason").labelNames("reason").register();

    // dedup
    public static final Counter DEDUP_DOCUMENTS = Counter.builder().name("millrace_dedup_documents_total")
            .help("Documents judged by the dedup stage, by verdict (kept, duplicate, reingested, malformed)")
            .labelNames("verdict").register();
    public static final Gauge DEDUP_INDEX_SIZE = Gauge.builder().name("millrace_dedup_index_documents")
            .help("Kept documents in the dedup index (exact hashes and MinHash LSH bands)").register();
    public static final Gauge DEDUP_INDEX_BYTES = Gauge.builder().name("millrace_dedup_index_bytes")
            .help("Estimated heap held by the dedup index").register();
    public static final Counter DEDUP_REJECTED = Counter.builder().name("millrace_dedup_rejected_total")
            .help("Documents the dedup stage rejected, by reason (filters and duplicates)").labelNames("reason").register();
    public static final Counter DEDUP_PII_REDACTED = Counter.builder().name("millrace_dedup_pii_redacted_total")
            .help("Personal data replaced in clean text, by kind (email, ip)").labelNames("kind").register();

    // tokenize
    public static final Counter TOKENIZE_DOCUMENTS = Counter.builder().name("millrace_tokenize_documents_total")
            .help("Documents tokenized, by split").labelNames("split").register();
    public static final Counter TOKENIZE_TOKENS = Counter.builder().name("millrace_tokenize_tokens_total")
            .help("Tokens packed into shards, by split").labelNames("split").register();
    public static final Counter TOKENIZE_SHARDS = Counter.builder().name("millrace_tokenize_shards_total")
            .help("Shards written to millrace.shards, by split").labelNames("split").register();
    public static final Counter TOKENIZE_MALFORMED = Counter.builder().name("millrace_tokenize_malformed_total")
            .help("Records on millrace.docs.clean that were not valid documents").register();

    // train
    public static final Counter TRAIN_STEPS = Counter.builder().name("millrace_train_steps_total")
            .help("Optimizer steps taken").register();
    public static final Counter TRAIN_SKIPPED_STEPS = Counter.builder().name("millrace_train_skipped_steps_total")
            .help("Steps whose loss or gradient was not finite: no update was made").register();
    public static final Counter TRAIN_TOKENS = Counter.builder().name("millrace_train_tokens_total")
            .help("Tokens trained on (inputs of every row of every step)").register();
    public static final Gauge TRAIN_LOSS = Gauge.builder().name("millrace_train_loss")
            .help("Cross-entropy loss of the last training step (nats per token)").register();
    public static final Gauge TRAIN_VALIDATION_LOSS = Gauge.builder().name("millrace_train_validation_loss")
            .help("Mean cross-entropy on held-out validation rows at the last evaluation").register();
    public static final Gauge TRAIN_VALIDATION_PERPLEXITY = Gauge.builder().name("millrace_train_validation_perplexity")
            .help("exp(validation loss): perplexity on the held-out rows").register();
    public static final Gauge TRAIN_LEARNING_RATE = Gauge.builder().name("millrace_train_learning_rate")
            .help("Learning rate of the last step").register();
    public static final Gauge TRAIN_GRAD_NORM = Gauge.builder().name("millrace_train_grad_norm")
            .help("Global gradient norm before clipping, last step").register();
    public static final Gauge TRAIN_TOKENS_PER_SECOND = Gauge.builder().name("millrace_train_tokens_per_second")
            .help("Training throughput of the last step").register();
    public static final Histogram TRAIN_STEP_SECONDS = Histogram.builder().name("millrace_train_step_seconds")
            .help("Wall time of one optimizer step").register();
    public static final Counter TRAIN_SHARDS = Counter.builder().name("millrace_train_shards_total")
            .help("Shards read by the trainer, by outcome (accepted, refused_tokenizer, refused_seq_len, malformed)")
            .labelNames("outcome").register();
    public static final Counter TRAIN_CHECKPOINTS = Counter.builder().name("millrace_train_checkpoints_total")
            .help("Checkpoints written").register();
    // train: replicas of one run (DiLoCo)
    public static final Counter TRAIN_SYNC_ROUNDS = Counter.builder().name("millrace_train_sync_rounds_total")
            .help("Rounds applied, by outcome: complete (every replica awaited contributed) or timeout (closed after --sync-timeout with those that arrived)")
            .labelNames("outcome").register();
    public static final Histogram TRAIN_SYNC_SECONDS = Histogram.builder().name("millrace_train_sync_seconds")
            .help("From publishing a pseudo-gradient to the round's outer step applied: waiting for the others, and the exchange")
            .register();
    public static final Counter TRAIN_SYNC_BYTES = Counter.builder().name("millrace_train_sync_bytes_total")
            .help("Bytes of millrace.sync records, by direction (sent, received)").labelNames("direction").register();
    public static final Gauge TRAIN_SYNC_REPLICAS = Gauge.builder().name("millrace_train_sync_replicas")
            .help("Replicas whose pseudo-gradients the last round summed").register();
    public static final Gauge TRAIN_SYNC_EXPECTED = Gauge.builder().name("millrace_train_sync_expected_replicas")
            .help("Replicas the last round's closer waited for (members of the model's group holding shard partitions)").register();
    public static final Gauge TRAIN_SYNC_ROUND = Gauge.builder().name("millrace_train_sync_round")
            .help("The open round of this replica's run").register();
    public static final Counter TRAIN_SYNC_REFUSED = Counter.builder().name("millrace_train_sync_refused_total")
            .help("millrace.sync records refused, by reason (malformed, size, round, repeat, base, chunk)").labelNames("reason").register();

    // web
    public static final Counter WEB_REQUESTS = Counter.builder().name("millrace_web_requests_total")
            .help("HTTP requests answered, by route and status class").labelNames("route", "status").register();
    public static final Histogram WEB_GENERATE_SECONDS = Histogram.builder().name("millrace_web_generate_seconds")
            .help("Time to generate one answer").register();
    public static final Histogram WEB_COMPARE_SECONDS = Histogram.builder().name("millrace_web_compare_seconds")
            .help("Time from a comparison request to both answers, queueing included").register();
    public static final Histogram WEB_FIRST_TOKEN_SECONDS = Histogram.builder().name("millrace_web_first_token_seconds")
            .help("Time from a request to its first generated token, queueing included, by route (generate, compare)")
            .labelNames("route").register();
    public static final Gauge WEB_GENERATIONS_IN_FLIGHT = Gauge.builder().name("millrace_web_generations_in_flight")
            .help("Generations being decoded now, together as one batch (up to --max-batch-rows answers; a comparison is two)").register();
    public static final Gauge WEB_GENERATION_BATCH_ROWS = Gauge.builder().name("millrace_web_generation_batch_rows")
            .help("Answers in the batch being decoded (requests that arrive while others are answered join it)").register();
    public static final Gauge WEB_GENERATIONS_QUEUED = Gauge.builder().name("millrace_web_generations_queued")
            .help("Generations waiting for their turn (bounded: past the bound a request gets 503 and Retry-After)").register();
    public static final Counter WEB_GENERATIONS_DROPPED = Counter.builder().name("millrace_web_generations_dropped_total")
            .help("Generations not run or not finished, by reason (queue_full; timeout: waited too long for a turn; "
                    + "cancelled: the client went away, while it waited or between two tokens)")
            .labelNames("reason").register();
    public static final Counter WEB_RATINGS = Counter.builder().name("millrace_web_ratings_total")
            .help("Ratings posted, by kind (choice, score, edit; unknown when the body says none) and outcome (accepted, "
                    + "duplicate, invalid, unauthorised, rate_limited, unavailable)")
            .labelNames("kind", "outcome").register();
    public static final Gauge WEB_RATERS = Gauge.builder().name("millrace_web_raters")
            .help("Raters whose token is valid, as this web replica knows them from millrace.raters").register();
    public static final Gauge WEB_POLICY_VERSION = Gauge.builder().name("millrace_web_policy_version")
            .help("Policy version this web replica answers with (0: the pretraining checkpoint, before any policy)").register();
    public static final Histogram WEB_POLICY_LOAD_SECONDS = Histogram.builder().name("millrace_web_policy_load_seconds")
            .help("Time to load a new policy version's weights (in the background, while the old one answers)").register();
    public static final Counter WEB_MALFORMED_RECORDS = Counter.builder().name("millrace_web_malformed_records_total")
            .help("Records the web role follows that were not valid payloads, by topic (skipped, never applied)")
            .labelNames("topic").register();

    public static final Histogram TRAIN_FRESHNESS_SECONDS = Histogram.builder().name("millrace_train_freshness_seconds")
            .help("Time from a document's ingestion to the first optimizer step that used its tokens")
            .classicUpperBounds(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400).register();
    public static final Gauge TRAIN_MODEL_FLOPS = Gauge.builder().name("millrace_train_model_flops_per_second")
            .help("Model FLOPs per second achieved by the last step (6 x parameters + attention, per token)").register();
    public static final Gauge TRAIN_MFU = Gauge.builder().name("millrace_train_mfu")
            .help("Model FLOPs utilisation of the last step: model FLOP/s over the device's dense peak (GPU; see PeakFlops)").register();
    public static final Gauge TRAIN_DEVICE_MEMORY = Gauge.builder().name("millrace_train_device_memory_bytes")
            .help("Memory in use on the training GPU (the whole device, as cudaMemGetInfo reports it); 0 when training on a CPU").register();
    public static final Gauge TRAIN_LOSS_SCALE = Gauge.builder().name("millrace_train_loss_scale")
            .help("Dynamic loss scale (1 when training in fp32, where no scaling is needed)").register();

    // feedback
    public static final Gauge FEEDBACK_POLICY_VERSION = Gauge.builder().name("millrace_feedback_policy_version")
            .help("Newest policy version the feedback role published").register();
    public static final Counter FEEDBACK_RATINGS_APPLIED = Counter.builder().name("millrace_feedback_ratings_applied_total")
            .help("Ratings trained into a published policy version, by kind (choice, score, edit)").labelNames("kind").register();
    public static final Counter FEEDBACK_RATINGS = Counter.builder().name("millrace_feedback_ratings_total")
            .help("Ratings the feedback role consumed, by outcome (applied, heldout, no_preference, duplicate, malformed, "
                    + "rolled_back, excluded, other_model)").labelNames("outcome").register();
    public static final Histogram FEEDBACK_RATING_TO_POLICY_SECONDS = Histogram.builder()
            .name("millrace_feedback_rating_to_policy_seconds")
            .help("From a rating's acceptance by the web role to the first published policy version trained on it")
            .classicUpperBounds(0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300).register();
    public static final Histogram FEEDBACK_UPDATE_SECONDS = Histogram.builder().name("millrace_feedback_update_seconds")
            .help("Wall time of one update: preference steps, safety evaluation, checkpoint, announcement")
            .classicUpperBounds(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60).register();
    public static final Gauge FEEDBACK_REWARD_MARGIN = Gauge.builder().name("millrace_feedback_reward_margin")
            .help("Mean implicit-reward margin (DPO's) of the newest version on held-out rated pairs").register();
    public static final Gauge FEEDBACK_REWARD_ACCURACY = Gauge.builder().name("millrace_feedback_reward_accuracy")
            .help("Share of held-out rated pairs the newest version prefers as people did").register();
    public static final Gauge FEEDBACK_KL = Gauge.builder().name("millrace_feedback_kl")
            .help("KL(policy || reference) of the newest version on the held-out prompts, nats per token").register();
    public static final Gauge FEEDBACK_PERPLEXITY = Gauge.builder().name("millrace_feedback_perplexity")
            .help("Held-out perplexity of the newest version (validation rows of the pretraining stream)").register();
    public static final Counter FEEDBACK_ROLLBACKS = Counter.builder().name("millrace_feedback_rollbacks_total")
            .help("Updates rolled back because the version crossed a bound (KL, perplexity rise)").register();

    // sft
    public static final Counter SFT_EXAMPLES = Counter.builder().name("millrace_sft_examples_total")
            .help("Fine-tuning examples, by outcome (trained, malformed, too_long)").labelNames("outcome").register();
    public static final Counter SFT_STEPS = Counter.builder().name("millrace_sft_steps_total")
            .help("Fine-tuning optimizer steps").register();
    public static final Gauge SFT_LOSS = Gauge.builder().name("millrace_sft_loss")
            .help("Answer-token loss of the last fine-tuning step (nats per token)").register();

    // every stage
    public static final Gauge KAFKA_CONSUMER_LAG = Gauge.builder().name("millrace_kafka_consumer_lag_records")
            .help("Records waiting in the input topic of a stage (sum over its assigned partitions)")
            .labelNames("stage", "topic").register();
    public static final Counter STAGE_RESTARTS = Counter.builder().name("millrace_stage_restarts_total")
            .help("Times a stage's worker failed and was rebuilt from the last commit").labelNames("stage").register();

    /** Label values of {@link #WEB_RATINGS}. */
    public static final String[] RATING_KINDS = {"choice", "score", "edit", "unknown"};
    public static final String[] RATING_OUTCOMES = {"accepted", "duplicate", "invalid", "unauthorised", "rate_limited",
        "unavailable"};

    private Metrics() {}

    /**
     * Loads the catalogue and creates every known label value at zero, so that dashboards and alerts see a series
     * (and a rate) from the start instead of from the first event.
     */
    public static void init() {
        for (RejectReason r : RejectReason.values()) INGEST_REJECTED.labelValues(r.label());
        for (String verdict : new String[] {"kept", "duplicate", "filtered", "reingested", "malformed"}) {
            DEDUP_DOCUMENTS.labelValues(verdict);
        }
        for (RejectReason r : new RejectReason[] {RejectReason.EXACT_DUPLICATE, RejectReason.NEAR_DUPLICATE,
                RejectReason.GOPHER_QUALITY, RejectReason.GOPHER_REPETITION, RejectReason.C4_QUALITY,
                RejectReason.LANGUAGE}) {
            DEDUP_REJECTED.labelValues(r.label());
        }
        DEDUP_PII_REDACTED.labelValues("email");
        DEDUP_PII_REDACTED.labelValues("ip");
        for (Split split : Split.values()) {
            TOKENIZE_DOCUMENTS.labelValues(split.label());
            TOKENIZE_TOKENS.labelValues(split.label());
            TOKENIZE_SHARDS.labelValues(split.label());
        }
        TRAIN_SYNC_ROUNDS.labelValues("complete");
        TRAIN_SYNC_ROUNDS.labelValues("timeout");
        TRAIN_SYNC_BYTES.labelValues("sent");
        TRAIN_SYNC_BYTES.labelValues("received");
        for (String reason : new String[] {"malformed", "size", "round", "repeat", "base", "chunk"}) TRAIN_SYNC_REFUSED.labelValues(reason);
        for (String outcome : new String[] {"accepted", "refused_tokenizer", "refused_seq_len", "malformed"}) {
            TRAIN_SHARDS.labelValues(outcome);
        }
        for (String kind : RATING_KINDS) {
            for (String outcome : RATING_OUTCOMES) WEB_RATINGS.labelValues(kind, outcome);
        }
        for (String reason : new String[] {"queue_full", "timeout", "cancelled"}) WEB_GENERATIONS_DROPPED.labelValues(reason);
        for (String route : new String[] {"generate", "compare"}) WEB_FIRST_TOKEN_SECONDS.labelValues(route);
        for (String kind : new String[] {"choice", "score", "edit"}) FEEDBACK_RATINGS_APPLIED.labelValues(kind);
        for (String outcome : new String[] {"trained", "malformed", "too_long"}) SFT_EXAMPLES.labelValues(outcome);
        for (String outcome : new String[] {"applied", "heldout", "no_preference", "duplicate", "malformed", "rolled_back",
            "excluded", "other_model"}) {
            FEEDBACK_RATINGS.labelValues(outcome);
        }
    }

    /**
     * The sum of a metric's series in a text exposition whose labels contain {@code labelFilter} ("" for all): what a
     * bench or a test reads off a process's {@code /metrics}.
     */
    public static double sum(String exposition, String name, String labelFilter) {
        double total = 0;
        for (String line : exposition.split("\n")) {
            if (!(line.startsWith(name + "{") || line.startsWith(name + " ")) || !line.contains(labelFilter)) continue;
            total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        }
        return total;
    }

    /** The Prometheus text exposition of everything registered. */
    public static String scrape() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            new PrometheusTextFormatWriter(false).write(out, REGISTRY.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    public static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;
}
