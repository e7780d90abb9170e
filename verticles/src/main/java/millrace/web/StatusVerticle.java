package millrace.web;

import millrace.kafka.KafkaSettings;
import millrace.kafka.StageVerticle;
import millrace.protocol.JsonSerde;

/** Publishes the pipeline's {@link PipelineStatus} as JSON on the event bus address {@link #ADDRESS}. */
public final class StatusVerticle extends StageVerticle {
    public static final String ADDRESS = "millrace.status";

    public StatusVerticle(KafkaSettings kafka, RatingLedger ledger) {
        super("status", vertx -> new StatusWatcher(kafka, ledger,
                status -> vertx.eventBus().publish(ADDRESS, JsonSerde.MAPPER.valueToTree(status).toString())));
    }
}
