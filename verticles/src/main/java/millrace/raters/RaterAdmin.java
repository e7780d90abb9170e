package millrace.raters;

import java.time.Duration;
import java.util.List;
import millrace.kafka.Acknowledged;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rater;
import millrace.protocol.Topics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Adds, revokes and lists raters on {@code millrace.raters} ({@code ./millrace raters ...}). */
public final class RaterAdmin implements AutoCloseable {
    private final KafkaSettings kafka;
    private final KafkaProducer<String, byte[]> producer;

    public RaterAdmin(KafkaSettings kafka) {
        this.kafka = kafka;
        this.producer = new KafkaProducer<>(kafka.producer("raters-admin"));
    }

    /** A new rater (or a new token for a revoked one); returns the token, which is stored nowhere. */
    public String add(String name) {
        RaterDirectory now = read();
        now.get(name).filter(r -> !r.revoked()).ifPresent(r -> {
            throw new IllegalArgumentException("rater '" + name + "' exists and is not revoked (revoke it first to issue a new token)");
        });
        String token = RaterTokens.newToken();
        publish(new Rater(name, RaterTokens.sha256(token), System.currentTimeMillis(), null));
        return token;
    }

    /** Disables a rater's token; every web replica refuses it from its next request on. */
    public Rater revoke(String name) {
        Rater rater = read().get(name).orElseThrow(() -> new IllegalArgumentException("no rater '" + name + "'"));
        if (rater.revoked()) throw new IllegalArgumentException("rater '" + name + "' is already revoked");
        Rater revoked = rater.revokedAt(System.currentTimeMillis());
        publish(revoked);
        return revoked;
    }

    public List<Rater> list() {
        return read().all();
    }

    private RaterDirectory read() {
        RaterDirectory directory = new RaterDirectory();
        TopicReader.readAll(kafka, Topics.RATERS, r -> {
            try {
                directory.apply(r.key(), r.value() == null ? null : JsonSerde.raters().fromBytes(r.value()));
            } catch (InvalidPayloadException e) {
                // skipped here as by every web replica
            }
        });
        return directory;
    }

    private void publish(Rater rater) {
        Acknowledged.await(producer.send(new ProducerRecord<>(Topics.RATERS, rater.name(), JsonSerde.raters().toBytes(rater))),
                "the rater record");
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
