package millrace.web;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import millrace.kafka.KafkaSettings;
import millrace.kafka.StageVerticle;
import millrace.kafka.TopicFollower;
import millrace.kafka.TopicReader;
import millrace.protocol.Checkpoint;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.PolicyVersion;
import millrace.protocol.Rejection;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Follows the output topics from the beginning (outside any consumer group, committed records only) and keeps
 * running totals; feeds the ratings it reads to the {@link RatingLedger}; publishes a {@link PipelineStatus} about
 * once a second.
 */
final class StatusWatcher implements StageVerticle.Worker {
    private static final int MAX_HISTORY = 256;
    private final TopicFollower follower;
    private final List<TopicPartition> docsPartitions;
    private final Consumer<PipelineStatus> publish;
    private final RatingLedger ledger;
    private long kept;
    private final Map<String, Long> rejected = new TreeMap<>();
    private final Map<String, Long> shards = new TreeMap<>();
    private final Map<String, Long> tokens = new TreeMap<>();
    private final Map<String, Checkpoint> checkpoints = new TreeMap<>();
    private final Map<String, List<double[]>> history = new TreeMap<>();
    private final Map<String, PolicyVersion> policies = new TreeMap<>();
    private final Map<String, List<double[]>> policyHistory = new TreeMap<>();
    private long lastPublish;
    private boolean policyChanged;

    StatusWatcher(KafkaSettings kafka, RatingLedger ledger, Consumer<PipelineStatus> publish) {
        this.publish = publish;
        this.ledger = ledger;
        ledger.recount(); // this incarnation reads the ratings from the beginning
        this.follower = new TopicFollower(kafka, List.of(Topics.DOCS_CLEAN, Topics.DOCS_REJECTED, Topics.SHARDS,
                Topics.CHECKPOINTS, Topics.RATINGS, Topics.POLICY), Duration.ofMillis(250), this::countSafely, this::publish)
                .whenCaughtUp(() -> ledger.caughtUp(true));
        this.docsPartitions = TopicReader.partitions(follower.consumer(), Topics.DOCS);
    }

    @Override
    public void step() {
        follower.step();
    }

    private void publish() {
        long now = System.currentTimeMillis();
        // once a second, and at once when a new policy version arrives: the web role swaps it in without waiting
        if (now - lastPublish < 1000 && !policyChanged) return;
        policyChanged = false;
        long docsIn = follower.consumer().endOffsets(docsPartitions).values().stream().mapToLong(Long::longValue).sum();
        publish.accept(new PipelineStatus(docsIn, kept, Map.copyOf(rejected), Map.copyOf(shards), Map.copyOf(tokens),
                Map.copyOf(checkpoints), copyOf(history), ledger.snapshot(now), Map.copyOf(policies),
                copyOf(policyHistory), now));
        lastPublish = now;
    }

    private void countSafely(ConsumerRecord<String, byte[]> r) {
        try {
            count(r);
        } catch (InvalidPayloadException e) {
            rejected.merge("malformed_record", 1L, Long::sum);
            millrace.metrics.Metrics.WEB_MALFORMED_RECORDS.labelValues(r.topic()).inc();
        }
    }

    private void count(ConsumerRecord<String, byte[]> r) {
        switch (r.topic()) {
            case Topics.DOCS_CLEAN -> kept++;
            case Topics.DOCS_REJECTED -> {
                Rejection rejection = JsonSerde.rejections().fromBytes(r.value());
                rejected.merge(rejection.reason().label(), 1L, Long::sum);
            }
            case Topics.SHARDS -> {
                TokenShard shard = TokenShardCodec.decode(r.value());
                shards.merge(shard.split().label(), 1L, Long::sum);
                tokens.merge(shard.split().label(), (long) shard.tokens().length, Long::sum);
            }
            case Topics.CHECKPOINTS -> {
                Checkpoint c = JsonSerde.checkpoints().fromBytes(r.value());
                checkpoints.merge(c.model(), c, (old, neu) -> neu.step() >= old.step() ? neu : old);
                remember(history, c.model(), new double[] {c.step(), c.trainLoss()});
            }
            case Topics.RATINGS -> ledger.record(JsonSerde.ratings().fromBytes(r.value()),
                    new RatingLedger.Position(r.partition(), r.offset()));
            case Topics.POLICY -> {
                PolicyVersion p = JsonSerde.policies().fromBytes(r.value());
                policies.merge(p.model(), p, (old, neu) -> neu.version() >= old.version() ? neu : old);
                policyChanged = true;
                remember(policyHistory, p.model(), new double[] {p.createdAtMillis(), p.version()});
            }
            default -> { }
        }
    }

    /** Appends a point to a model's history, keeping every other point past the bound: any run length keeps its shape. */
    private static void remember(Map<String, List<double[]>> histories, String model, double[] point) {
        List<double[]> points = histories.computeIfAbsent(model, k -> new ArrayList<>());
        points.add(point);
        if (points.size() > MAX_HISTORY) {
            List<double[]> thinned = new ArrayList<>();
            for (int i = 0; i < points.size(); i += 2) thinned.add(points.get(i));
            histories.put(model, thinned);
        }
    }

    private static Map<String, List<double[]>> copyOf(Map<String, List<double[]>> h) {
        Map<String, List<double[]>> out = new TreeMap<>();
        h.forEach((k, v) -> out.put(k, List.copyOf(v)));
        return out;
    }

    @Override
    public void close() {
        follower.close();
    }
}
