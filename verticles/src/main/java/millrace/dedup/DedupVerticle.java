package millrace.dedup;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import millrace.kafka.KafkaSettings;
import millrace.kafka.MalformedRecords;
import millrace.kafka.StageVerticle;
import millrace.kafka.TransactionalPipe;
import millrace.metrics.Metrics;
import millrace.protocol.DedupClaim;
import millrace.protocol.Document;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dedup role: {@code millrace.docs} → {@code millrace.docs.clean} (kept, filtered, redacted) and
 * {@code millrace.docs.rejected} (filtered out, duplicates, malformed), exactly once, as several replicas.
 *
 * <p>How replicas agree on "first seen": filters are per document and run wherever the document is consumed. A
 * document that passes them is <em>claimed</em> on {@code millrace.dedup.claims}, a single-partition log. Every
 * replica applies every claim, in log order, to its own {@link DedupIndex}; the index is a deterministic function
 * of the log, so all replicas reach the same verdict for every claim and two near duplicates consumed by two
 * replicas are caught exactly as one replica would catch them. A replica emits the verdicts of its own claims once
 * it has read them back, in the same transaction that commits the input offsets. The claim log is also the
 * persisted index: a starting replica rebuilds its index by replaying it (signatures, not texts).
 */
public final class DedupVerticle extends StageVerticle {
    private static final Logger LOG = LoggerFactory.getLogger(DedupVerticle.class);

    public DedupVerticle(KafkaSettings kafka, DedupSettings settings) {
        super("dedup", vertx -> new DedupWorker(kafka, settings));
    }

    /** One incarnation of the stage: an index rebuilt from the claim log, and the pipe that feeds it. */
    static final class DedupWorker implements StageVerticle.Worker, TransactionalPipe.Stage {
        private static final TopicPartition CLAIMS = new TopicPartition(Topics.DEDUP_CLAIMS, 0);

        private final JsonSerde<Document> documents = JsonSerde.documents();
        private final JsonSerde<Rejection> rejections = JsonSerde.rejections();
        private final JsonSerde<DedupClaim> claimSerde = JsonSerde.claims();
        private final DocumentScreen screen;
        private final DedupIndex index;
        private final KafkaProducer<String, byte[]> claimProducer;
        private final KafkaConsumer<String, byte[]> claimReader;
        private final TransactionalPipe pipe;
        /** Claims of the current batch, waiting to be read back: their send results, in input order. */
        private final List<Waiting> waiting = new ArrayList<>();
        /** Input records this incarnation handled (tests check that each of two replicas did work). */
        long handled;

        /** A screened document whose claim was sent: kept, filtered or duplicate is decided when it is read back. */
        private record Waiting(DocumentScreen.Screened screened, Future<RecordMetadata> sent) {}

        DedupWorker(KafkaSettings kafka, DedupSettings settings) {
            this.screen = new DocumentScreen(settings);
            this.index = new DedupIndex(settings.nearDuplicates());
            this.claimProducer = new KafkaProducer<>(kafka.producer("dedup-claims"));
            KafkaConsumer<String, byte[]> reader = null;
            try {
                reader = new KafkaConsumer<>(kafka.consumer(null, 5000));
                this.claimReader = reader;
                claimReader.assign(List.of(CLAIMS));
                claimReader.seekToBeginning(List.of(CLAIMS));
                long end = claimReader.endOffsets(List.of(CLAIMS)).get(CLAIMS);
                long started = System.nanoTime();
                readClaimsUpTo(end - 1, java.util.Set.of(), new HashMap<>());
                publishIndexSize();
                LOG.info("dedup index rebuilt from {} claims in {} ms: {} kept documents, about {} bytes each",
                        index.claimCount(), (System.nanoTime() - started) / 1_000_000, index.keptCount(),
                        index.keptCount() == 0 ? 0 : index.bytes() / index.keptCount());
                this.pipe = new TransactionalPipe(kafka, "dedup", Topics.DOCS, 500, this);
            } catch (RuntimeException | Error e) {
                // a half-built worker closes what it opened: the stage builds a new one every second
                claimProducer.close(Duration.ZERO);
                if (reader != null) reader.close(Duration.ZERO);
                throw e;
            }
        }

        @Override
        public void step() {
            pipe.pollOnce(Duration.ofMillis(200));
        }

        @Override
        public void process(ConsumerRecord<String, byte[]> record, TransactionalPipe.Output out) {
            handled++;
            Document doc;
            try {
                doc = documents.fromBytes(record.value());
            } catch (InvalidPayloadException e) {
                Rejection r = MalformedRecords.rejection(record, "dedup", e);
                out.send(Topics.DOCS_REJECTED, r.docId(), rejections.toBytes(r));
                out.afterCommit(() -> Metrics.DEDUP_DOCUMENTS.labelValues("malformed").inc());
                return;
            }
            DocumentScreen.Screened screened = screen.screen(doc);
            String input = record.topic() + "-" + record.partition() + "@" + record.offset();
            // filtered documents are claimed too: a second copy of one (a re-ingest) must not get a second verdict
            DedupClaim claim = screened instanceof DocumentScreen.Filtered f ? f.claim(input)
                    : ((DocumentScreen.Candidate) screened).claim(input);
            waiting.add(new Waiting(screened,
                    claimProducer.send(new ProducerRecord<>(Topics.DEDUP_CLAIMS, claim.docId(), claimSerde.toBytes(claim)))));
        }

        /** Reads this batch's claims back from the log (applying every claim before them) and emits their verdicts. */
        @Override
        public void endOfBatch(TransactionalPipe.Output out) {
            if (waiting.isEmpty()) return;
            claimProducer.flush();
            Map<Long, Waiting> byOffset = new java.util.LinkedHashMap<>(); // in input order
            long last = -1;
            for (Waiting w : waiting) {
                long offset = offsetOf(w.sent());
                byOffset.put(offset, w);
                last = Math.max(last, offset);
            }
            Map<Long, DedupIndex.Judgement> ours = new HashMap<>();
            readClaimsUpTo(last, byOffset.keySet(), ours);
            byOffset.forEach((offset, w) -> emit(w.screened(), ours.get(offset), out));
            waiting.clear();
            publishIndexSize();
        }

        /**
         * Publishes the claim log's verdict. The screen's result of today normally agrees with it; after the filters
         * were changed, a replay can disagree, and the log's verdict wins (a document the log filtered stays
         * rejected; one it judged while today's filters reject it is rejected now, with today's reason).
         */
        private void emit(DocumentScreen.Screened screened, DedupIndex.Judgement judgement, TransactionalPipe.Output out) {
            DedupIndex.Verdict verdict = judgement.verdict();
            if (verdict instanceof DedupIndex.Reingested) {
                out.afterCommit(() -> Metrics.DEDUP_DOCUMENTS.labelValues("reingested").inc());
                return;
            }
            if (verdict instanceof DedupIndex.Filtered || screened instanceof DocumentScreen.Filtered) {
                Document doc = screened instanceof DocumentScreen.Filtered f ? f.doc() : ((DocumentScreen.Candidate) screened).doc();
                RejectReason reason = verdict instanceof DedupIndex.Filtered v ? v.reason() : ((DocumentScreen.Filtered) screened).reason();
                String detail = screened instanceof DocumentScreen.Filtered f && f.reason() == reason ? f.detail()
                        : "rejected by the filters when first judged";
                reject(out, new Rejection(doc.id(), doc.source(), "dedup", reason, detail, null, System.currentTimeMillis()));
                out.afterCommit(() -> Metrics.DEDUP_DOCUMENTS.labelValues("filtered").inc());
                return;
            }
            DocumentScreen.Candidate c = (DocumentScreen.Candidate) screened;
            Document doc = c.doc();
            if (verdict instanceof DedupIndex.Kept) {
                DocumentScreen.Redaction r = screen.clean(c);
                out.send(Topics.DOCS_CLEAN, doc.id(), documents.toBytes(r.clean()));
                out.afterCommit(() -> Metrics.DEDUP_DOCUMENTS.labelValues("kept").inc());
                out.afterCommit(() -> Metrics.DEDUP_PII_REDACTED.labelValues("email").inc(r.emails()));
                out.afterCommit(() -> Metrics.DEDUP_PII_REDACTED.labelValues("ip").inc(r.ips()));
            } else {
                reject(out, DuplicateRejections.of(doc, verdict));
                out.afterCommit(() -> Metrics.DEDUP_DOCUMENTS.labelValues("duplicate").inc());
            }
        }

        private void reject(TransactionalPipe.Output out, Rejection r) {
            out.send(Topics.DOCS_REJECTED, r.docId(), rejections.toBytes(r));
            out.afterCommit(() -> Metrics.DEDUP_REJECTED.labelValues(r.reason().label()).inc());
        }

        /**
         * Applies every claim up to and including {@code lastOffset} to the index; the judgements of the claims at
         * the {@code wanted} offsets go to {@code judgements}.
         */
        private void readClaimsUpTo(long lastOffset, java.util.Set<Long> wanted, Map<Long, DedupIndex.Judgement> judgements) {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (claimReader.position(CLAIMS) <= lastOffset) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("claims up to offset " + lastOffset + " not readable in 60 s");
                }
                for (ConsumerRecord<String, byte[]> r : claimReader.poll(Duration.ofMillis(100))) {
                    DedupClaim claim;
                    try {
                        claim = claimSerde.fromBytes(r.value());
                    } catch (InvalidPayloadException e) {
                        LOG.warn("claim at offset {} is not a valid claim, ignored: {}", r.offset(), e.getMessage());
                        continue;
                    }
                    DedupIndex.Judgement j = index.apply(claim);
                    if (wanted.contains(r.offset())) judgements.put(r.offset(), j);
                }
            }
        }

        private static long offsetOf(Future<RecordMetadata> sent) {
            try {
                return sent.get().offset();
            } catch (ExecutionException e) {
                throw new IllegalStateException("claim not written: " + e.getCause().getMessage(), e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }

        private void publishIndexSize() {
            Metrics.DEDUP_INDEX_SIZE.set(index.keptCount());
            Metrics.DEDUP_INDEX_BYTES.set(index.bytes());
        }

        DedupIndex index() {
            return index;
        }

        int assignedPartitions() {
            return pipe.assignedPartitions();
        }

        @Override
        public void revoked(org.apache.kafka.common.TopicPartition partition) {
            waiting.clear(); // their claims stay in the log; the new owner's re-claims replay their verdicts
        }

        @Override
        public void close() {
            waiting.clear();
            try {
                pipe.close();
            } finally {
                claimProducer.close(Duration.ofSeconds(5));
                claimReader.close(Duration.ofSeconds(5));
            }
        }
    }
}
