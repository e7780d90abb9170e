package millrace.feedback;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * Rows of the pretraining stream for the feedback role: validation rows, the held-out text of a policy's perplexity;
 * training rows, the text its steps keep modelling so that it does not drift from the language (the pretraining mix).
 * Always the first rows of {@code millrace.shards}, partition by partition — the same rows every time, so the figures
 * are comparable across versions and every replay of a lineage trains on the same — of the policy's tokenizer and a
 * length its context holds.
 */
final class ShardRows {
    private static final int VALIDATION = 16;
    private static final int PRETRAINING = 256;

    private ShardRows() {}

    /** What a policy on {@code base} is measured and steadied on, read from the shards topic. */
    static Policy.Text text(KafkaSettings kafka, java.nio.file.Path base) throws java.io.IOException {
        millrace.train.CheckpointStore.Meta m = millrace.train.CheckpointStore.readMeta(base);
        int block = m.config().blockSize();
        return new Policy.Text(PolicyEvaluator.DEFAULT_PROMPTS, read(kafka, Split.VAL, m.tokenizerId(), block, VALIDATION),
                read(kafka, Split.TRAIN, m.tokenizerId(), block, PRETRAINING));
    }

    static List<int[]> read(KafkaSettings kafka, Split split, String tokenizerId, int blockSize, int max) {
        List<int[]> rows = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null, 200))) {
            List<TopicPartition> partitions = TopicReader.partitions(consumer, Topics.SHARDS);
            // partition by partition, from the start: a fixed order whatever arrived when
            for (TopicPartition tp : partitions) {
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                long end = consumer.endOffsets(List.of(tp)).get(tp);
                while (rows.size() < max && consumer.position(tp) < end) {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                        if (rows.size() >= max || r.offset() >= end) break;
                        TokenShard shard;
                        try {
                            shard = TokenShardCodec.decode(r.value());
                        } catch (InvalidPayloadException e) {
                            continue;
                        }
                        if (shard.split() != split || !shard.tokenizerId().equals(tokenizerId) || shard.seqLen() > blockSize) {
                            continue;
                        }
                        int width = shard.seqLen() + 1;
                        for (int row = 0; row < shard.rows() && rows.size() < max; row++) {
                            rows.add(Arrays.copyOfRange(shard.tokens(), row * width, (row + 1) * width));
                        }
                    }
                }
                if (rows.size() >= max) break;
            }
        }
        return rows;
    }
}
