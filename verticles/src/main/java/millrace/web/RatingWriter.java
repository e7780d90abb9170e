package millrace.web;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import millrace.kafka.KafkaSettings;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rating;
import millrace.protocol.Topics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Writes ratings to {@code millrace.ratings} and answers only once Kafka has them (acks=all, idempotent producer). A
 * rating whose id is already on the topic, or on its way there, is not written again: the caller gets the same id.
 */
final class RatingWriter implements AutoCloseable {
    /** How a rating was taken: written now, or recognised as a re-send of one already written. */
    enum Outcome { ACCEPTED, DUPLICATE }

    /** Too many ratings are waiting for Kafka: refuse rather than queue without bound. */
    static final class Overloaded extends RuntimeException {
        Overloaded(String message) {
            super(message, null, false, false);
        }
    }

    private static final int MAX_PENDING = 1000;
    private final KafkaProducer<String, byte[]> producer;
    private final RatingLedger ledger;
    private final Map<String, CompletableFuture<Outcome>> pending = new HashMap<>();

    RatingWriter(KafkaSettings kafka, RatingLedger ledger) {
        Properties p = kafka.producer("web-ratings");
        // never hold a caller for long: an unreachable cluster fails the request, and the client retries with its key
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
        this.producer = new KafkaProducer<>(p);
        this.ledger = ledger;
    }

    /**
     * Completes when the rating is on the topic: {@code ACCEPTED}, or {@code DUPLICATE} when its id was written before
     * (or is being written by a concurrent re-send). May block briefly for cluster metadata: call it off the event loop.
     */
    CompletableFuture<Outcome> write(Rating rating) {
        CompletableFuture<Outcome> mine;
        synchronized (this) {
            if (ledger.knows(rating.id())) return CompletableFuture.completedFuture(Outcome.DUPLICATE);
            CompletableFuture<Outcome> inFlight = pending.get(rating.id());
            if (inFlight != null) return inFlight.thenApply(o -> Outcome.DUPLICATE);
            if (pending.size() >= MAX_PENDING) throw new Overloaded(pending.size() + " ratings wait for Kafka");
            mine = new CompletableFuture<>();
            pending.put(rating.id(), mine);
        }
        try {
            producer.send(new ProducerRecord<>(Topics.RATINGS, rating.id(), JsonSerde.ratings().toBytes(rating)),
                    (metadata, error) -> finish(rating.id(), mine, error));
        } catch (RuntimeException e) {
            finish(rating.id(), mine, e);
        }
        return mine;
    }

    private void finish(String id, CompletableFuture<Outcome> future, Exception error) {
        synchronized (this) {
            pending.remove(id);
            if (error == null) ledger.acknowledged(id);
        }
        if (error == null) future.complete(Outcome.ACCEPTED);
        else future.completeExceptionally(error);
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
