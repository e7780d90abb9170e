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
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Writes ratings to {@code millrace.ratings} and answers only once Kafka has them (acks=all, idempotent producer). A
 * rating whose id is already on the topic, or on its way there, is not written again: the caller gets the same id.
 */
final class RatingWriter implements AutoCloseable {
    /** Where a rating is on the topic, and whether this request wrote it or found it written by an earlier one. */
    record Receipt(String id, int partition, long offset, boolean duplicate) {
        Receipt asDuplicate() {
            return new Receipt(id, partition, offset, true);
        }
    }

    /** Too many ratings are waiting for Kafka: refuse rather than queue without bound. */
    static final class Overloaded extends RuntimeException {
        Overloaded(String message) {
            super(message, null, false, false);
        }
    }

    private static final int MAX_PENDING = 1000;
    private final KafkaProducer<String, byte[]> producer;
    private final RatingLedger ledger;
    private final Map<String, CompletableFuture<Receipt>> pending = new HashMap<>();

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
     * Completes when the rating is on the topic, with its place there — marked duplicate when its id was written before
     * (or is being written by a concurrent re-send). May block briefly for cluster metadata: call it off the event loop.
     */
    CompletableFuture<Receipt> write(Rating rating) {
        CompletableFuture<Receipt> mine;
        synchronized (this) {
            RatingLedger.Position known = ledger.find(rating.id());
            if (known != null) {
                return CompletableFuture.completedFuture(new Receipt(rating.id(), known.partition(), known.offset(), true));
            }
            CompletableFuture<Receipt> inFlight = pending.get(rating.id());
            if (inFlight != null) return inFlight.thenApply(Receipt::asDuplicate);
            if (pending.size() >= MAX_PENDING) throw new Overloaded(pending.size() + " ratings wait for Kafka");
            mine = new CompletableFuture<>();
            pending.put(rating.id(), mine);
        }
        try {
            producer.send(new ProducerRecord<>(Topics.RATINGS, rating.id(), JsonSerde.ratings().toBytes(rating)),
                    (metadata, error) -> finish(rating, mine, metadata, error));
        } catch (RuntimeException e) {
            finish(rating, mine, null, e);
        }
        return mine;
    }

    private void finish(Rating rating, CompletableFuture<Receipt> future, RecordMetadata at, Exception error) {
        String id = rating.id();
        synchronized (this) {
            pending.remove(id);
            if (error == null) ledger.acknowledged(rating, new RatingLedger.Position(at.partition(), at.offset()));
        }
        if (error == null) future.complete(new Receipt(id, at.partition(), at.offset(), false));
        else future.completeExceptionally(error);
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
