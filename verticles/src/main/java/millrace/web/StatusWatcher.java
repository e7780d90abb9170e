package millrace.web;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.kafka.StageVerticle;
import millrace.protocol.Checkpoint;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rejection;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * Follows the output topics from the beginning (outside any consumer group, committed records only) and keeps
 * running totals; publishes a {@link PipelineStatus} about once a second.
 */
final class StatusWatcher implements StageVerticle.Worker {
    private static final int MAX_HISTORY = 256;
    private final KafkaConsumer<String, byte[]> consumer;
    private final List<TopicPartition> docsPartitions;
    private final Consumer<PipelineStatus> publish;
    private long kept;
    private final Map<String, Long> rejected = new TreeMap<>();
    private final Map<String, Long> shards = new TreeMap<>();
    private final Map<String, Long> tokens = new TreeMap<>();
    private final Map<String, Checkpoint> checkpoints = new TreeMap<>();
    private final Map<String, List<double[]>> history = new TreeMap<>();
    private long lastPublish;

    StatusWatcher(KafkaSettings kafka, Consumer<PipelineStatus> publish) {
        this.publish = publish;
        this.consumer = new KafkaConsumer<>(kafka.consumer(null, 1000));
        List<TopicPartition> followed = new ArrayList<>();
        for (String topic : List.of(Topics.DOCS_CLEAN, Topics.DOCS_REJECTED, Topics.SHARDS, Topics.CHECKPOINTS)) {
            followed.addAll(TopicReader.partitions(consumer, topic));
        }
        this.docsPartitions = TopicReader.partitions(consumer, Topics.DOCS);
        consumer.assign(followed);
        consumer.seekToBeginning(followed);
    }

    @Override
    public void step() {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(250))) {
            try {
                count(r);
            } catch (InvalidPayloadException e) {
                rejected.merge("malformed_record", 1L, Long::sum);
            }
        }
        long now = System.currentTimeMillis();
        if (now - lastPublish >= 1000) {
            long docsIn = consumer.endOffsets(docsPartitions).values().stream().mapToLong(Long::longValue).sum();
            publish.accept(new PipelineStatus(docsIn, kept, Map.copyOf(rejected), Map.copyOf(shards),
                    Map.copyOf(tokens), Map.copyOf(checkpoints), copyOf(history), now));
            lastPublish = now;
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
                List<double[]> points = history.computeIfAbsent(c.model(), k -> new ArrayList<>());
                points.add(new double[] {c.step(), c.trainLoss()});
                if (points.size() > MAX_HISTORY) {
                    // keep every other point: the curve keeps its shape over any length of run
                    List<double[]> thinned = new ArrayList<>();
                    for (int i = 0; i < points.size(); i += 2) thinned.add(points.get(i));
                    history.put(c.model(), thinned);
                }
            }
            default -> { }
        }
    }

    private static Map<String, List<double[]>> copyOf(Map<String, List<double[]>> h) {
        Map<String, List<double[]>> out = new TreeMap<>();
        h.forEach((k, v) -> out.put(k, List.copyOf(v)));
        return out;
    }

    @Override
    public void close() {
        consumer.close(Duration.ofSeconds(5));
    }
}
