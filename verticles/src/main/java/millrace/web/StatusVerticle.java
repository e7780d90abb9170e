package millrace.web;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import millrace.kafka.KafkaSettings;
import millrace.kafka.WorkerLoop;
import millrace.protocol.JsonSerde;

/** Publishes the pipeline's {@link PipelineStatus} as JSON on the event bus address {@link #ADDRESS}. */
public final class StatusVerticle extends VerticleBase {
    public static final String ADDRESS = "millrace.status";

    private final KafkaSettings kafka;
    private WorkerLoop loop;

    public StatusVerticle(KafkaSettings kafka) {
        this.kafka = kafka;
    }

    @Override
    public Future<?> start() {
        loop = new WorkerLoop(vertx, "status", () -> new StatusWatcher(kafka,
                status -> vertx.eventBus().publish(ADDRESS, new String(JsonSerde.MAPPER.valueToTree(status).toString()))));
        loop.start();
        return Future.succeededFuture();
    }

    @Override
    public Future<?> stop() {
        loop.stop();
        return Future.succeededFuture();
    }
}
