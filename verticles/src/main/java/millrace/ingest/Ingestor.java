package millrace.ingest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import millrace.kafka.KafkaSettings;
import millrace.metrics.Metrics;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;
import millrace.protocol.Topics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads files and directories (recursively, in sorted order) and writes each text file to {@code millrace.docs}, or
 * its rejection to {@code millrace.docs.rejected}. A bad file is reported with its path and reason and does not stop
 * the rest. Returns only after Kafka acknowledged every record (acks=all).
 */
public final class Ingestor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Ingestor.class);

    /** What one run ingested. */
    public record Summary(long documents, long rejected, long bytes) {}

    private final KafkaProducer<String, byte[]> producer;
    private final TextFileReader reader;
    private final JsonSerde<Document> documents = JsonSerde.documents();
    private final JsonSerde<Rejection> rejections = JsonSerde.rejections();

    public Ingestor(KafkaSettings kafka, long maxBytes) {
        this.producer = new KafkaProducer<>(kafka.producer("ingest"));
        this.reader = new TextFileReader(maxBytes);
    }

    public Summary ingest(List<Path> inputs) {
        AtomicLong docs = new AtomicLong();
        AtomicLong rejected = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        AtomicReference<Exception> sendFailure = new AtomicReference<>();
        for (Path input : inputs) {
            for (Path file : files(input, rejected)) {
                TextFileReader.Result result = reader.read(file);
                if (result instanceof TextFileReader.Read read) {
                    Document doc = read.document();
                    producer.send(new ProducerRecord<>(Topics.DOCS, doc.id(), documents.toBytes(doc)), (md, e) -> {
                        if (e != null) {
                            sendFailure.compareAndSet(null, e);
                            return;
                        }
                        docs.incrementAndGet();
                        bytes.addAndGet(doc.text().length());
                        Metrics.INGEST_DOCUMENTS.labelValues(doc.contentType()).inc();
                        Metrics.INGEST_BYTES.inc(doc.text().length());
                    });
                } else if (result instanceof TextFileReader.Refused refused) {
                    reject(refused.rejection(), rejected, sendFailure);
                }
            }
        }
        producer.flush();
        if (sendFailure.get() != null) {
            throw new IllegalStateException("Kafka did not acknowledge every record", sendFailure.get());
        }
        Summary summary = new Summary(docs.get(), rejected.get(), bytes.get());
        LOG.info("ingested {} documents ({} bytes of text), rejected {}", summary.documents(), summary.bytes(),
                summary.rejected());
        return summary;
    }

    private void reject(Rejection r, AtomicLong rejected, AtomicReference<Exception> sendFailure) {
        LOG.warn("rejected {}: {} ({})", r.source(), r.reason().label(), r.detail());
        producer.send(new ProducerRecord<>(Topics.DOCS_REJECTED, r.docId(), rejections.toBytes(r)), (md, e) -> {
            if (e != null) {
                sendFailure.compareAndSet(null, e);
                return;
            }
            rejected.incrementAndGet();
            Metrics.INGEST_REJECTED.labelValues(r.reason().label()).inc();
        });
    }

    /** The text files under {@code input}, sorted; an input that cannot be listed is itself rejected. */
    private List<Path> files(Path input, AtomicLong rejected) {
        if (!Files.isDirectory(input)) return List.of(input);
        List<Path> out = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(input)) {
            // not isRegularFile: a dangling link or a special file must be reported, not skipped
            walk.filter(p -> !Files.isDirectory(p)).filter(TextFileReader::isTextFile).sorted().forEach(out::add);
        } catch (IOException | java.io.UncheckedIOException e) {
            String source = input.toAbsolutePath().toString();
            reject(new Rejection(DocumentIds.of(source, ""), source, "ingest", RejectReason.UNREADABLE,
                    "cannot list directory: " + e.getMessage(), null, System.currentTimeMillis()), rejected,
                    new AtomicReference<>());
        }
        return out;
    }

    @Override
    public void close() {
        producer.close();
    }
}
