package millrace.ingest;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import millrace.kafka.KafkaSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ingest role: writes the configured inputs to {@code millrace.docs} on a thread of its own (reading is
 * blocking work), once, or — in watch mode — again whenever files appear or change, until undeployed.
 */
public final class IngestVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(IngestVerticle.class);

    private final KafkaSettings kafka;
    private final IngestSettings settings;
    private volatile boolean stopped;
    private Thread thread;

    public IngestVerticle(KafkaSettings kafka, IngestSettings settings) {
        this.kafka = kafka;
        this.settings = settings;
    }

    @Override
    public Future<?> start() {
        if (settings.inputs().isEmpty()) return Future.succeededFuture();
        thread = new Thread(this::run, "millrace-ingest");
        thread.setDaemon(true);
        thread.start();
        return Future.succeededFuture();
    }

    private void run() {
        try (Ingestor ingestor = new Ingestor(kafka, settings.options())) {
            if (settings.watchEvery() == null) ingestor.ingest(settings.inputs());
            else ingestor.watch(settings.inputs(), settings.watchEvery(), () -> stopped);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            if (!stopped) LOG.error("ingest of {} failed", settings.inputs(), e);
        }
    }

    @Override
    public Future<?> stop() {
        stopped = true;
        if (thread != null) thread.interrupt();
        return Future.succeededFuture();
    }
}
