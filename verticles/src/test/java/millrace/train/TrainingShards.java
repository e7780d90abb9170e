package millrace.train;

import java.util.ArrayList;
import java.util.List;
import millrace.kafka.TestKafka;
import millrace.protocol.ShardDoc;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import millrace.tokenizer.Vocabularies;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Training shards the trainer tests publish: r50k ids, rows of 8 + 1 tokens, spread over the topic's partitions. */
final class TrainingShards {
    private TrainingShards() {}

    /**
     * Publishes {@code shards} shards ({@code <prefix><n>}) of {@code rows} rows each, shard {@code n} on partition
     * {@code n % partitions}; returns their rows, {@code shard-id#row}, in the order published.
     */
    static List<String> publish(TestKafka kafka, String prefix, int shards, int rows) throws Exception {
        String tokenizer = Vocabularies.builtin("r50k").id();
        List<String> published = new ArrayList<>();
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.settings("t").producer("test"))) {
            for (int s = 0; s < shards; s++) {
                int[] tokens = new int[rows * 9];
                for (int i = 0; i < tokens.length; i++) tokens[i] = (s * 997 + i * 31) % 50000;
                TokenShard shard = new TokenShard(prefix + s, tokenizer, 8, Split.TRAIN, List.of(new ShardDoc("d" + s, 1)), tokens);
                p.send(new ProducerRecord<>(Topics.SHARDS, s % kafka.partitions(), shard.id(), TokenShardCodec.encode(shard))).get();
                for (int r = 0; r < rows; r++) published.add(shard.id() + "#" + r);
            }
        }
        return published;
    }
}
