package millrace.ingest;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.nio.file.Path;
import java.util.List;
import millrace.kafka.KafkaSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The ingest role: writes the configured corpus paths to {@code millrace.docs}, off the event loop. */
public final class IngestVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(IngestVerticle.class);

    private final KafkaSettings kafka;
    private final List<Path> corpus;

    public IngestVerticle(KafkaSettings kafka, List<Path> corpus) {
        this.kafka = kafka;
        this.corpus = List.copyOf(corpus);
    }

    @Override
    public Future<?> start() {
        if (corpus.isEmpty()) return Future.succeededFuture();
        vertx.executeBlocking(() -> {
            try (Ingestor ingestor = new Ingestor(kafka, TextFileReader.DEFAULT_MAX_BYTES)) {
                return ingestor.ingest(corpus);
            }
        }, false).onFailure(e -> LOG.error("ingest of {} failed", corpus, e));
        return Future.succeededFuture();
    }
}
