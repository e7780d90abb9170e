package millrace.train;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import millrace.metrics.Metrics;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns records of {@code millrace.shards} into rows: decodes each shard, refuses one of another tokenizer or a longer
 * context than the model's (counted by reason), skips the rows the weights hold already ({@link TrainPositions}), and
 * puts training rows on the queue and a bounded number of validation rows aside.
 */
final class ShardIntake {
    private static final Logger LOG = LoggerFactory.getLogger(ShardIntake.class);
    static final int MAX_VALIDATION_ROWS = 64;

    private final String tokenizerId;
    private final int blockSize;

    ShardIntake(String tokenizerId, int blockSize) {
        this.tokenizerId = tokenizerId;
        this.blockSize = blockSize;
    }

    /** Reads one record's rows into {@code queue} (training) or {@code validation}. */
    void accept(ConsumerRecord<String, byte[]> r, TrainPositions positions, ArrayDeque<TrainWorker.QueuedRow> queue,
            List<int[]> validation) {
        TokenShard shard;
        try {
            shard = TokenShardCodec.decode(r.value());
        } catch (InvalidPayloadException e) {
            LOG.warn("skipping malformed shard at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.getMessage());
            Metrics.TRAIN_SHARDS.labelValues("malformed").inc();
            return;
        }
        if (!shard.tokenizerId().equals(tokenizerId)) {
            LOG.warn("refusing shard {}: tokenizer {} is not the model's {}", shard.id(), shard.tokenizerId(), tokenizerId);
            Metrics.TRAIN_SHARDS.labelValues("refused_tokenizer").inc();
            return;
        }
        if (shard.seqLen() > blockSize) {
            LOG.warn("refusing shard {}: sequence length {} exceeds the model's {}", shard.id(), shard.seqLen(), blockSize);
            Metrics.TRAIN_SHARDS.labelValues("refused_seq_len").inc();
            return;
        }
        Metrics.TRAIN_SHARDS.labelValues("accepted").inc();
        int row = shard.seqLen() + 1;
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        int skip = 0;
        if (shard.split() == Split.TRAIN) {
            long trained = positions.skip(r.partition(), r.offset());
            if (trained < 0) return; // trained already, here or by the trainer that had the partition
            skip = (int) Math.min(trained, shard.rows());
        }
        for (int i = skip; i < shard.rows(); i++) {
            int[] tokens = Arrays.copyOfRange(shard.tokens(), i * row, (i + 1) * row);
            if (shard.split() == Split.VAL) {
                if (validation.size() < MAX_VALIDATION_ROWS) validation.add(tokens);
            } else {
                queue.add(new TrainWorker.QueuedRow(tokens, tp, r.offset(), i, shard.id(), shard.docs()));
            }
        }
    }
}
