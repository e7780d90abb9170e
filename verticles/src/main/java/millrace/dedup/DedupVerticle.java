package millrace.dedup;

import java.time.Duration;
import millrace.kafka.KafkaSettings;
import millrace.kafka.MalformedRecords;
import millrace.kafka.TopicReader;
import millrace.kafka.TransactionalPipe;
import millrace.kafka.StageVerticle;
import millrace.metrics.Metrics;
import millrace.protocol.Document;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dedup role: {@code millrace.docs} → {@code millrace.docs.clean} (kept) and {@code millrace.docs.rejected}
 * (duplicates, malformed records), exactly once. The index is rebuilt from {@code millrace.docs.clean} on start.
 */
public final class DedupVerticle extends StageVerticle {
    private static final Logger LOG = LoggerFactory.getLogger(DedupVerticle.class);

    public DedupVerticle(KafkaSettings kafka) {
        super("dedup", vertx -> new DedupWorker(kafka));
    }

    /** One incarnation of the stage: an index rebuilt from the kept documents, and the pipe that feeds it. */
    static final class DedupWorker implements StageVerticle.Worker, TransactionalPipe.Stage {
        private final JsonSerde<Document> documents = JsonSerde.documents();
        private final JsonSerde<Rejection> rejections = JsonSerde.rejections();
        private final ExactDeduplicator index = new ExactDeduplicator();
        private final TransactionalPipe pipe;

        DedupWorker(KafkaSettings kafka) {
            long kept = TopicReader.readAll(kafka, Topics.DOCS_CLEAN, r -> index.remember(documents.fromBytes(r.value())));
            Metrics.DEDUP_INDEX_SIZE.set(index.size());
            LOG.info("dedup index rebuilt from {} kept documents", kept);
            pipe = new TransactionalPipe(kafka, "dedup", Topics.DOCS, 500, this);
        }

        @Override
        public void step() {
            pipe.pollOnce(Duration.ofMillis(200));
        }

        @Override
        public void process(ConsumerRecord<String, byte[]> record, TransactionalPipe.Output out) {
            Document doc;
            try {
                doc = documents.fromBytes(record.value());
            } catch (InvalidPayloadException e) {
                Rejection r = MalformedRecords.rejection(record, "dedup", e);
                out.send(Topics.DOCS_REJECTED, r.docId(), rejections.toBytes(r));
                Metrics.DEDUP_DOCUMENTS.labelValues("malformed").inc();
                return;
            }
            ExactDeduplicator.Verdict verdict = index.judge(doc);
            if (verdict instanceof ExactDeduplicator.Kept kept) {
                out.send(Topics.DOCS_CLEAN, doc.id(), documents.toBytes(kept.clean()));
                Metrics.DEDUP_DOCUMENTS.labelValues("kept").inc();
                Metrics.DEDUP_INDEX_SIZE.set(index.size());
            } else if (verdict instanceof ExactDeduplicator.Duplicate dup) {
                Rejection r = new Rejection(doc.id(), doc.source(), "dedup", RejectReason.EXACT_DUPLICATE,
                        "same normalized text as " + dup.original().id() + " (" + dup.original().source() + ")",
                        dup.original().source(), System.currentTimeMillis());
                out.send(Topics.DOCS_REJECTED, doc.id(), rejections.toBytes(r));
                Metrics.DEDUP_DOCUMENTS.labelValues("duplicate").inc();
            } else {
                Metrics.DEDUP_DOCUMENTS.labelValues("reingested").inc();
            }
        }

        @Override
        public void close() {
            pipe.close();
        }
    }
}
