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
 * Held-out text for a policy's perplexity: the first validation rows of {@code millrace.shards} (the same rows every
 * time, so the figure is comparable across versions and rebuilds), of the policy's tokenizer and a length its context
 * holds.
 */
final class ValidationRows {
    private ValidationRows() {}

    static List<int[]> read(KafkaSettings kafka, String tokenizerId, int blockSize, int max) {
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
                        if (shard.split() != Split.VAL || !shard.tokenizerId().equals(tokenizerId) || shard.seqLen() > blockSize) {
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
