package millrace.ingest;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import millrace.kafka.KafkaSettings;
import millrace.metrics.Metrics;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rejection;
import millrace.protocol.Topics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes what the user named (files, directories, URLs) to {@code millrace.docs}, and every input it cannot turn into
 * a document to {@code millrace.docs.rejected} with a reason. Streaming: readers hand over one document at a time and
 * at most {@code maxInFlight} records wait for Kafka's acknowledgement (acks=all, idempotent producer), so a 10 GB
 * input never fills memory. A pass returns only after Kafka acknowledged every record.
 */
public final class Ingestor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Ingestor.class);

    /** What one pass ingested. */
    public record Summary(long documents, long rejected, long bytes) {}

    /** How to read. */
    public record Options(Readers.Settings readers, List<String> include, List<String> exclude, int maxInFlight) {
        public static final Options DEFAULT = new Options(Readers.Settings.DEFAULT, List.of(), List.of(), 1000);

        public Options {
            include = List.copyOf(include);
            exclude = List.copyOf(exclude);
            if (maxInFlight < 1) throw new IllegalArgumentException("maxInFlight must be >= 1");
        }
    }

    private final KafkaProducer<String, byte[]> producer;
    private final Readers readers;
    private final InputScanner scanner;
    private final Semaphore inFlight;
    private final JsonSerde<Document> documents = JsonSerde.documents();
    private final JsonSerde<Rejection> rejections = JsonSerde.rejections();
    private final AtomicReference<Exception> sendFailure = new AtomicReference<>();
    private final AtomicLong docs = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();
    /** Files ingested by earlier passes of {@link #watch}, with the size and time they had then. */
    private final Map<Path, List<Long>> seen = new HashMap<>();

    public Ingestor(KafkaSettings kafka, Options options) {
        this.producer = new KafkaProducer<>(kafka.producer("ingest"));
        this.readers = new Readers(options.readers());
        this.scanner = new InputScanner(options.include(), options.exclude(), options.readers().maxBytes());
        this.inFlight = new Semaphore(options.maxInFlight());
    }

    /** One pass over everything named. */
    public Summary ingest(List<String> args) {
        return pass(args, false);
    }

    /**
     * Passes over the named paths every {@code interval} until {@code stop} says so; after the first, a pass takes
     * only files that are new or changed and that have not changed for a second (so half-written files wait).
     */
    public void watch(List<String> args, Duration interval, BooleanSupplier stop) throws InterruptedException {
        pass(args, false);
        List<String> paths = args.stream().filter(a -> !InputScanner.isUrl(a)).toList();
        while (!stop.getAsBoolean()) {
            Thread.sleep(interval.toMillis());
            if (stop.getAsBoolean()) return;
            Summary s = pass(paths, true);
            if (s.documents() + s.rejected() > 0) {
                LOG.info("watch: {} new documents, {} rejected", s.documents(), s.rejected());
            }
        }
    }

    private Summary pass(List<String> args, boolean onlyNew) {
        long d0 = docs.get();
        long r0 = rejected.get();
        long b0 = bytes.get();
        long settled = System.currentTimeMillis() - 1000;
        for (String arg : args) {
            if (InputScanner.isUrl(arg)) {
                scanner.fetch(arg, input -> readers.read(input, this::send), this::send);
                continue;
            }
            for (InputScanner.Found f : scanner.files(Path.of(arg), this::send)) {
                List<Long> state = List.of(f.size(), f.modifiedMillis());
                if (onlyNew && (state.equals(seen.get(f.path())) || f.modifiedMillis() > settled)) continue;
                readers.read(f.input(), this::send);
                seen.put(f.path(), state);
            }
        }
        producer.flush();
        Exception failure = sendFailure.getAndSet(null);
        if (failure != null) throw new IllegalStateException("Kafka did not acknowledge every record", failure);
        Summary summary = new Summary(docs.get() - d0, rejected.get() - r0, bytes.get() - b0);
        if (!onlyNew) {
            LOG.info("ingested {} documents ({} characters of text), rejected {}", summary.documents(),
                    summary.bytes(), summary.rejected());
        }
        return summary;
    }

    private void send(ReadResult result) {
        if (result instanceof ReadResult.Read read) {
            Document doc = read.document();
            send(Topics.DOCS, doc.id(), documents.toBytes(doc), () -> {
                docs.incrementAndGet();
                bytes.addAndGet(doc.text().length());
                Metrics.INGEST_DOCUMENTS.labelValues(doc.contentType()).inc();
                Metrics.INGEST_BYTES.inc(doc.text().length());
            });
        } else if (result instanceof ReadResult.Refused refused) {
            Rejection r = refused.rejection();
            LOG.warn("rejected {}: {} ({})", r.source(), r.reason().label(), r.detail());
            send(Topics.DOCS_REJECTED, r.docId(), rejections.toBytes(r), () -> {
                rejected.incrementAndGet();
                Metrics.INGEST_REJECTED.labelValues(r.reason().label()).inc();
            });
        }
    }

    /** Sends once a slot among the records in flight is free; {@code acknowledged} runs when Kafka has it. */
    private void send(String topic, String key, byte[] value, Runnable acknowledged) {
        acquire();
        producer.send(new ProducerRecord<>(topic, key, value), (md, e) -> {
            inFlight.release();
            if (e != null) sendFailure.compareAndSet(null, e);
            else acknowledged.run();
        });
    }

    private void acquire() {
        try {
            inFlight.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for Kafka", e);
        }
    }

    @Override
    public void close() {
        producer.close();
    }
}
