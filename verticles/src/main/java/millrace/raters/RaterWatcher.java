package millrace.raters;

import java.time.Duration;
import java.util.List;
import millrace.kafka.KafkaSettings;
import millrace.kafka.StageVerticle;
import millrace.kafka.TopicFollower;
import millrace.metrics.Metrics;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a {@link RaterDirectory} equal to {@code millrace.raters}: every web replica runs one, so an added or revoked
 * rater reaches all of them within one poll (a fifth of a second).
 */
public final class RaterWatcher extends StageVerticle {
    private static final Logger LOG = LoggerFactory.getLogger(RaterWatcher.class);

    public RaterWatcher(KafkaSettings kafka, RaterDirectory directory) {
        super("raters", vertx -> new TopicFollower(kafka, List.of(Topics.RATERS), Duration.ofMillis(200), r -> {
            try {
                directory.apply(r.key(), r.value() == null ? null : JsonSerde.raters().fromBytes(r.value()));
            } catch (InvalidPayloadException e) {
                // fail closed: a record no rater can be read from (a damaged revocation, say) disables the name
                directory.apply(r.key(), null);
                Metrics.WEB_MALFORMED_RECORDS.labelValues(Topics.RATERS).inc();
                LOG.warn("{}/{}@{} is not a rater: {}; '{}' may not rate until a valid record replaces it", r.topic(),
                        r.partition(), r.offset(), e.getMessage(), r.key());
            }
        }, () -> Metrics.WEB_RATERS.set(directory.active())).whenCaughtUp(() -> directory.caughtUp(true)));
    }
}
