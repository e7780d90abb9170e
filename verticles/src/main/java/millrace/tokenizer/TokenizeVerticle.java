package millrace.tokenizer;

import java.time.Duration;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import millrace.kafka.KafkaSettings;
import millrace.kafka.MalformedRecords;
import millrace.kafka.TransactionalPipe;
import millrace.kafka.StageVerticle;
import millrace.metrics.Metrics;
import millrace.protocol.Document;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rejection;
import millrace.protocol.ShardDoc;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * The tokenize role: {@code millrace.docs.clean} → {@code millrace.shards}. Each document's tokens, followed by
 * {@code <|endoftext|>}, land in exactly one shard across restarts: shards and the commit position (including how
 * many tokens of a half-packed document are already shipped, kept in the offset metadata) share a transaction.
 */
public final class TokenizeVerticle extends StageVerticle {

    public TokenizeVerticle(KafkaSettings kafka, TokenizeSettings settings) {
        super("tokenize", vertx -> new TokenizeWorker(kafka, settings, 200));
    }

    /** Packers per input partition and split, fed by a transactional pipe. */
    static final class TokenizeWorker implements StageVerticle.Worker, TransactionalPipe.Stage {
        private final TokenizeSettings settings;
        private final TextTokenizer tokenizer;
        private final JsonSerde<Document> documents = JsonSerde.documents();
        private final Map<TopicPartition, PartitionPackers> partitions = new HashMap<>();
        private final TransactionalPipe pipe;
        private long shardsShipped;

        TokenizeWorker(KafkaSettings kafka, TokenizeSettings settings, int maxPollRecords) {
            this.settings = settings;
            this.tokenizer = Tokenizers.load(settings.tokenizer());
            this.pipe = new TransactionalPipe(kafka, "tokenize", Topics.DOCS_CLEAN, maxPollRecords, this);
        }

        /** The packers of one input partition, and where the last owner left each split. */
        private final class PartitionPackers {
            final Map<Split, ShardPacker> packers = new EnumMap<>(Split.class);
            long lastShipMillis = System.currentTimeMillis();

            PartitionPackers(TopicPartition tp, Map<Split, ShardPacker.Position> resume) {
                for (Split split : Split.values()) {
                    packers.put(split, new ShardPacker("p" + tp.partition() + "-" + split.label(), tokenizer.id(),
                            settings.seqLen(), split, resume.get(split)));
                }
            }
        }

        @Override
        public void step() {
            poll();
        }

        /** Shards this incarnation has shipped (committed or about to be, with the current poll). */
        long shardsShipped() {
            return shardsShipped;
        }

        /** One poll and its transaction; returns the number of documents read. */
        int poll() {
            return pipe.pollOnce(Duration.ofMillis(200));
        }

        @Override
        public void assigned(TopicPartition partition, OffsetAndMetadata committed) {
            Map<Split, ShardPacker.Position> resume = new EnumMap<>(Split.class);
            if (committed != null && committed.metadata() != null && !committed.metadata().isEmpty()) {
                for (String part : committed.metadata().split(",")) {
                    int eq = part.indexOf('=');
                    resume.put(Split.valueOf(part.substring(0, eq).toUpperCase(java.util.Locale.ROOT)),
                            ShardPacker.Position.parse(part.substring(eq + 1)));
                }
            }
            partitions.put(partition, new PartitionPackers(partition, resume));
        }

        @Override
        public void revoked(TopicPartition partition) {
            partitions.remove(partition);
        }

        @Override
        public void process(ConsumerRecord<String, byte[]> record, TransactionalPipe.Output out) {
            PartitionPackers state = partitions.get(new TopicPartition(record.topic(), record.partition()));
            // the key is the document id, which decides the split: replayed documents are skipped unparsed
            if (record.key() != null
                    && state.packers.get(Splits.of(record.key(), settings.validationShare())).shippedBefore(record.offset())) {
                return;
            }
            Document doc;
            try {
                doc = documents.fromBytes(record.value());
            } catch (InvalidPayloadException e) {
                Rejection r = MalformedRecords.rejection(record, "tokenize", e);
                out.send(Topics.DOCS_REJECTED, r.docId(), JsonSerde.rejections().toBytes(r));
                out.afterCommit(() -> Metrics.TOKENIZE_MALFORMED.inc());
                return;
            }
            Split split = Splits.of(doc.id(), settings.validationShare());
            int[] tokens = tokenizer.document(doc.text());
            ShardPacker packer = state.packers.get(split);
            packer.add(record.offset(), new ShardDoc(doc.id(), doc.ingestedAtMillis()), tokens);
            out.afterCommit(() -> Metrics.TOKENIZE_DOCUMENTS.labelValues(split.label()).inc());
            while (packer.fullRows() >= settings.rowsPerShard()) ship(packer.take(settings.rowsPerShard()), state, out);
        }

        @Override
        public void idle(TransactionalPipe.Output out) {
            long now = System.currentTimeMillis();
            for (PartitionPackers state : partitions.values()) {
                if (now - state.lastShipMillis < settings.flushAfterMillis()) continue;
                for (ShardPacker packer : state.packers.values()) {
                    if (packer.fullRows() > 0) ship(packer.take(packer.fullRows()), state, out);
                }
            }
        }

        private void ship(TokenShard shard, PartitionPackers state, TransactionalPipe.Output out) {
            out.send(Topics.SHARDS, shard.id(), TokenShardCodec.encode(shard));
            state.lastShipMillis = System.currentTimeMillis();
            shardsShipped++;
            out.afterCommit(() -> Metrics.TOKENIZE_SHARDS.labelValues(shard.split().label()).inc());
            out.afterCommit(() -> Metrics.TOKENIZE_TOKENS.labelValues(shard.split().label()).inc(shard.tokens().length));
        }

        @Override
        public OffsetAndMetadata commitPoint(TopicPartition partition, long position) {
            PartitionPackers state = partitions.get(partition);
            if (state == null) return new OffsetAndMetadata(position);
            long offset = position;
            StringBuilder metadata = new StringBuilder();
            for (ShardPacker packer : state.packers.values()) {
                ShardPacker.Position p = packer.pending(position);
                offset = Math.min(offset, p.offset());
                if (!metadata.isEmpty()) metadata.append(',');
                metadata.append(packer.split().label()).append('=').append(p);
            }
            return new OffsetAndMetadata(offset, metadata.toString());
        }

        @Override
        public void close() {
            pipe.close();
        }
    }
}
