package millrace.feedback;

import millrace.model.CheckpointFormat;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rows of the pretraining stream for a policy: validation rows, the held-out text of its perplexity; training rows,
 * the text its steps keep modelling (the pretraining mix). A new lineage takes the first rows of {@code
 * millrace.shards} — partition by partition in order, of the policy's tokenizer, all of one length its context holds —
 * and records where each row is ({@code partition:offset:row}); a restart or a rebuild reads back exactly those rows,
 * so the same lineage always sees the same text, however the stream has grown since.
 */
final class ShardRows {
    private static final Logger LOG = LoggerFactory.getLogger(ShardRows.class);
    private static final int VALIDATION = 16;
    private static final int PRETRAINING = 256;
    /** Shards looked at for each split at most: the rows are the stream's first, not a search of all of it. */
    private static final int SCAN = 2000;

    private ShardRows() {}

    /** The text of a new lineage on {@code base}. */
    static Policy.Text first(KafkaSettings kafka, Path base) throws IOException {
        CheckpointFormat.Meta m = CheckpointFormat.readMeta(base);
        java.util.Set<String> tokenizers = millrace.tokenizer.ChatTemplate.textTokenizerIds(CheckpointFormat.loadTokenizer(base));
        List<String> validation = refs(kafka, Split.VAL, tokenizers, m.config().contextLength(), VALIDATION);
        if (validation.isEmpty()) {
            LOG.warn("no validation rows of {} on {}: the policy's perplexity (and its bound) is not measured",
                    tokenizers, Topics.SHARDS);
        }
        return read(kafka, validation, refs(kafka, Split.TRAIN, tokenizers, m.config().contextLength(), PRETRAINING));
    }

    /** The rows {@code validation} and {@code pretraining} name, read back. */
    static Policy.Text read(KafkaSettings kafka, List<String> validation, List<String> pretraining) {
        return new Policy.Text(PolicyEvaluator.DEFAULT_PROMPTS, rows(kafka, validation), rows(kafka, pretraining),
                validation, pretraining);
    }

    /** Where the first {@code max} rows of a split are: one length (the first shard's), at most the context's. */
    private static List<String> refs(KafkaSettings kafka, Split split, java.util.Set<String> tokenizerIds, int blockSize, int max) {
        List<String> refs = new ArrayList<>();
        int seqLen = -1;
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null, 200))) {
            List<TopicPartition> partitions = new ArrayList<>(TopicReader.partitions(consumer, Topics.SHARDS));
            partitions.sort(Comparator.comparingInt(TopicPartition::partition));
            int scanned = 0;
            for (TopicPartition tp : partitions) {
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                long end = consumer.endOffsets(List.of(tp)).get(tp);
                while (refs.size() < max && scanned < SCAN && consumer.position(tp) < end) {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                        if (refs.size() >= max || r.offset() >= end || scanned++ >= SCAN) break;
                        TokenShard shard;
                        try {
                            shard = TokenShardCodec.decode(r.value());
                        } catch (InvalidPayloadException e) {
                            continue;
                        }
                        if (shard.split() != split || !tokenizerIds.contains(shard.tokenizerId()) || shard.seqLen() > blockSize) continue;
                        if (seqLen < 0) seqLen = shard.seqLen();
                        if (shard.seqLen() != seqLen) continue;
                        for (int row = 0; row < shard.rows() && refs.size() < max; row++) {
                            refs.add(tp.partition() + ":" + r.offset() + ":" + row);
                        }
                    }
                }
                if (refs.size() >= max) break;
            }
        }
        return refs;
    }

    private static List<int[]> rows(KafkaSettings kafka, List<String> refs) {
        List<int[]> rows = new ArrayList<>();
        if (refs.isEmpty()) return rows;
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null, 1))) {
            for (String ref : refs) {
                String[] f = ref.split(":");
                TopicPartition tp = new TopicPartition(Topics.SHARDS, Integer.parseInt(f[0]));
                long offset = Long.parseLong(f[1]);
                consumer.assign(List.of(tp));
                consumer.seek(tp, offset);
                ConsumerRecord<String, byte[]> found = null;
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (found == null && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                        if (r.offset() == offset) found = r;
                        break;
                    }
                }
                if (found == null) throw new IllegalStateException(Topics.SHARDS + " has no record at " + ref + " any more");
                TokenShard shard = TokenShardCodec.decode(found.value());
                int row = Integer.parseInt(f[2]);
                int width = shard.seqLen() + 1;
                rows.add(Arrays.copyOfRange(shard.tokens(), row * width, (row + 1) * width));
            }
        }
        return rows;
    }
}
