package millrace.web;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.metrics.Metrics;
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
 * slows the read; the whole log is never in memory). Two exports run at a time, one per rater, on threads of their
 * own; a client that reads nothing for a minute is dropped. A failure before the first line is a 503; after it, the
 * connection is reset, so that a cut-off export never looks complete. A rating written twice (two replicas raced on a
 * re-send) is exported once.
 */
final class RatingsExport {
    private static final Logger LOG = LoggerFactory.getLogger(RatingsExport.class);
    private static final String ROUTE = "export";
    private static final int RUNNING = 2;
    private static final long IDLE_MILLIS = 60_000;

    private final KafkaSettings kafka;
    private final WorkerExecutor workers;
    private final Set<String> exporting = ConcurrentHashMap.newKeySet();

    RatingsExport(Vertx vertx, KafkaSettings kafka) {
        this.kafka = kafka;
        this.workers = vertx.createSharedWorkerExecutor("millrace-export", RUNNING, 1, TimeUnit.HOURS);
    }

    void handle(RoutingContext ctx) {
        TrlRows.Shape shape;
        try {
            String asked = ctx.queryParams().get("shape");
            shape = TrlRows.Shape.parse(asked == null ? "paired" : asked);
        } catch (IllegalArgumentException e) {
            Http.invalid(ctx, ROUTE, new InvalidPayloadException("shape", e.getMessage()));
            return;
        }
        String rater = ArenaHandler.rater(ctx);
        if (exporting.size() >= RUNNING || exporting.contains(rater)) {
            Http.retryLater(ctx, ROUTE, 503, 10, "exports are running (one per rater, two in all): try again shortly");
            return;
        }
        exporting.add(rater);
        HttpServerResponse response = ctx.response();
        Context context = ctx.vertx().getOrCreateContext();
        AtomicBoolean gone = new AtomicBoolean();
        AtomicBoolean started = new AtomicBoolean();
        response.closeHandler(v -> gone.set(true));
        workers.executeBlocking(() -> {
            stream(shape, response, context, gone, started);
            return null;
        }, false).onComplete(done -> {
            exporting.remove(rater);
            if (done.succeeded()) {
                if (!started.get()) start(response, shape);
                if (!response.ended() && !response.closed()) response.end();
                Metrics.WEB_REQUESTS.labelValues(ROUTE, "2xx").inc();
            } else if (!gone.get()) {
                LOG.warn("ratings export failed", done.cause());
                if (started.get()) {
                    response.reset(); // the client must not take a cut-off export for a whole one
                    Metrics.WEB_REQUESTS.labelValues(ROUTE, "5xx").inc();
                } else {
                    Http.retryLater(ctx, ROUTE, 503, 10, "the ratings could not be read from Kafka: try again shortly");
                }
            }
        });
    }

    private static void start(HttpServerResponse response, TrlRows.Shape shape) {
        response.setChunked(true).putHeader(HttpHeaders.CONTENT_TYPE, "application/jsonl; charset=utf-8")
                .putHeader(HttpHeaders.CONTENT_DISPOSITION,
                        "attachment; filename=\"ratings-" + shape.name().toLowerCase(Locale.ROOT) + ".jsonl\"");
    }

    /** Reads the topic to its end as it is now, writing a chunk per poll and waiting while the client's buffer is full. */
    private void stream(TrlRows.Shape shape, HttpServerResponse response, Context context, AtomicBoolean gone,
            AtomicBoolean started) throws Exception {
        // a re-sent rating that two replicas both wrote sits close to its first copy: a window of recent ids finds it
        Set<String> seen = BoundedMaps.set(100_000);
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null, 500))) {
            List<TopicPartition> partitions = TopicReader.partitions(consumer, Topics.RATINGS);
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
            while (!gone.get() && partitions.stream().anyMatch(tp -> consumer.position(tp, Duration.ofSeconds(30)) < end.get(tp))) {
                StringBuilder chunk = new StringBuilder();
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    if (r.offset() >= end.get(new TopicPartition(r.topic(), r.partition()))) continue;
                    Rating rating;
                    try {
                        rating = JsonSerde.ratings().fromBytes(r.value());
                    } catch (InvalidPayloadException e) {
                        Metrics.WEB_MALFORMED_RECORDS.labelValues(Topics.RATINGS).inc();
                        continue;
                    }
                    if (!seen.add(rating.id())) continue;
                    for (ObjectNode row : TrlRows.of(rating, shape)) chunk.append(row).append('\n');
                }
                if (!chunk.isEmpty()) write(chunk.toString(), shape, response, context, gone, started);
            }
        }
    }

    private static void write(String chunk, TrlRows.Shape shape, HttpServerResponse response, Context context,
            AtomicBoolean gone, AtomicBoolean started) throws Exception {
        CompletableFuture<Void> drained = new CompletableFuture<>();
        context.runOnContext(v -> {
            if (response.closed()) {
                drained.complete(null);
                return;
            }
            if (started.compareAndSet(false, true)) start(response, shape);
            response.write(chunk);
            if (response.writeQueueFull()) response.drainHandler(d -> drained.complete(null));
            else drained.complete(null);
        });
        long deadline = System.currentTimeMillis() + IDLE_MILLIS;
        while (!gone.get()) {
            try {
                drained.get(200, TimeUnit.MILLISECONDS);
                return;
            } catch (TimeoutException stillFull) {
                if (System.currentTimeMillis() > deadline) {
                    throw new TimeoutException("the client read nothing for " + IDLE_MILLIS / 1000 + " s");
                }
            }
        }
    }

    void close() {
        workers.close();
    }
}
