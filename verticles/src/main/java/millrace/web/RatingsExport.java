package millrace.web;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Context;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rating;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /api/ratings/export?shape=paired|unpaired|raw}: every rating now on {@code millrace.ratings}, as JSON
 * Lines in the shape of TRL's datasets ({@link TrlRows}), streamed from the topic with back-pressure (a slow client
 * slows the read; the whole log is never in memory). A few exports at a time; a rating written twice (two replicas
 * raced on a re-send) is exported once.
 */
final class RatingsExport {
    private static final Logger LOG = LoggerFactory.getLogger(RatingsExport.class);
    private static final String ROUTE = "export";
    private final KafkaSettings kafka;
    private final Semaphore running = new Semaphore(2);

    RatingsExport(KafkaSettings kafka) {
        this.kafka = kafka;
    }

    void handle(RoutingContext ctx) {
        TrlRows.Shape shape;
        try {
            shape = TrlRows.Shape.parse(ctx.queryParams().get("shape") == null ? "paired" : ctx.queryParams().get("shape"));
        } catch (IllegalArgumentException e) {
            Http.invalid(ctx, ROUTE, new InvalidPayloadException("shape", e.getMessage()));
            return;
        }
        if (!running.tryAcquire()) {
            Http.retryLater(ctx, ROUTE, 503, 10, "exports are running: try again shortly");
            return;
        }
        HttpServerResponse response = ctx.response().setChunked(true)
                .putHeader(HttpHeaders.CONTENT_TYPE, "application/jsonl; charset=utf-8")
                .putHeader(HttpHeaders.CONTENT_DISPOSITION, "attachment; filename=\"ratings-" + shape.name().toLowerCase() + ".jsonl\"");
        Context context = ctx.vertx().getOrCreateContext();
        AtomicBoolean gone = new AtomicBoolean();
        response.closeHandler(v -> gone.set(true));
        ctx.vertx().executeBlocking(() -> {
            stream(shape, response, context, gone);
            return null;
        }, false).onComplete(done -> {
            running.release();
            if (done.failed() && !gone.get()) LOG.warn("ratings export failed", done.cause());
            if (!response.ended() && !response.closed()) response.end();
        });
        millrace.metrics.Metrics.WEB_REQUESTS.labelValues(ROUTE, "2xx").inc();
    }

    /** Reads the topic to its end as it is now, writing a chunk per poll and waiting while the client's buffer is full. */
    private void stream(TrlRows.Shape shape, HttpServerResponse response, Context context, AtomicBoolean gone)
            throws Exception {
        // a re-sent rating that two replicas both wrote sits close to its first copy: a window of recent ids finds it
        java.util.Set<String> seen = java.util.Collections.newSetFromMap(new java.util.LinkedHashMap<>(1024, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > 100_000;
            }
        });
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null, 500))) {
            List<TopicPartition> partitions = TopicReader.partitions(consumer, Topics.RATINGS);
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            while (!gone.get() && partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
                StringBuilder chunk = new StringBuilder();
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    if (r.offset() >= end.get(new TopicPartition(r.topic(), r.partition()))) continue;
                    Rating rating;
                    try {
                        rating = JsonSerde.ratings().fromBytes(r.value());
                    } catch (InvalidPayloadException e) {
                        millrace.metrics.Metrics.WEB_MALFORMED_RECORDS.labelValues(Topics.RATINGS).inc();
                        continue;
                    }
                    if (!seen.add(rating.id())) continue;
                    for (ObjectNode row : TrlRows.of(rating, shape)) chunk.append(row).append('\n');
                }
                if (!chunk.isEmpty()) write(chunk.toString(), response, context, gone);
            }
        }
    }

    private static void write(String chunk, HttpServerResponse response, Context context, AtomicBoolean gone)
            throws Exception {
        CompletableFuture<Void> drained = new CompletableFuture<>();
        context.runOnContext(v -> {
            if (response.closed()) {
                drained.complete(null);
                return;
            }
            response.write(chunk);
            if (response.writeQueueFull()) response.drainHandler(d -> drained.complete(null));
            else drained.complete(null);
        });
        while (!gone.get()) {
            try {
                drained.get(200, TimeUnit.MILLISECONDS);
                return;
            } catch (java.util.concurrent.TimeoutException stillFull) {
                // the client reads slowly: wait, unless it went away
            }
        }
    }
}
