package millrace.web;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.StaticHandler;
import java.util.HashSet;
import java.util.Set;
import millrace.kafka.KafkaSettings;
import millrace.metrics.Metrics;
import millrace.raters.RaterDirectory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The web role: the page, the JSON API, live events and the Prometheus endpoint. It reads pipeline status from the
 * event bus ({@link StatusVerticle}), serves the newest policy of its model ({@link ServingModel}), and takes ratings
 * from the raters {@link RaterDirectory} knows. The handlers live beside it; this class only wires them.
 */
public final class WebVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(WebVerticle.class);
    private static final int MAX_LISTENERS = 256;
    private static final int SMALL_BODY = 16 * 1024;
    /** An edited answer of up to 8,000 characters, each up to 4 bytes of UTF-8 and maybe escaped, and the rest. */
    private static final int RATING_BODY = 64 * 1024;

    private final int port;
    private final KafkaSettings kafka;
    private final WebSettings settings;
    private final RaterDirectory raters;
    private final RatingLedger ledger;
    private final Set<HttpServerResponse> listeners = new HashSet<>();
    private ServingModel serving;
    private GenerationQueue queue;
    private RatingWriter writer;
    private RatingsExport export;
    private JsonObject status;
    private int boundPort;

    public WebVerticle(int port, KafkaSettings kafka, WebSettings settings, RaterDirectory raters, RatingLedger ledger) {
        this.port = port;
        this.kafka = kafka;
        this.settings = settings;
        this.raters = raters;
        this.ledger = ledger;
    }

    @Override
    public Future<?> start() {
        serving = new ServingModel(settings.model());
        queue = new GenerationQueue(serving, settings.maxQueuedGenerations(), settings.maxQueueWaitMillis(),
                settings.maxBatchRows());
        writer = new RatingWriter(kafka, ledger);
        // a freshly loaded version goes into service between two batches, at once when nothing is being generated
        serving.onLoaded(queue::policyLoaded);
        Generations generations = new Generations(serving, queue);
        GenerateHandler generate = new GenerateHandler(generations, raters);
        ArenaHandler arena = new ArenaHandler(vertx, raters, generations, ledger, writer, settings);
        export = new RatingsExport(vertx, kafka);
        vertx.eventBus().<String>consumer(StatusVerticle.ADDRESS, msg -> onStatus(msg.body()));

        Router router = Router.router(vertx);
        router.route().handler(WebVerticle::securityHeaders);
        router.get("/health").handler(ctx -> {
            JsonObject health = millrace.kafka.StageVerticle.health(); // every stage loop of this process
            Http.json(ctx, "health", health.getString("status").equals("up") ? 200 : 503, health);
        });
        router.get("/ready").handler(ctx -> Http.json(ctx, "ready", ready() ? 200 : 503, new JsonObject().put("ready", ready())));
        router.get("/metrics").handler(ctx -> {
            Metrics.WEB_REQUESTS.labelValues("metrics", "2xx").inc();
            ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, Metrics.CONTENT_TYPE).end(Metrics.scrape());
        });
        router.get("/api/status").handler(ctx -> {
            if (status == null) Http.error(ctx, "status", 503, "status not known yet");
            else Http.json(ctx, "status", 200, status);
        });
        router.get("/api/events").handler(this::events);
        router.get("/api/policy").handler(this::policy);
        router.post("/api/generate").handler(Http.body(SMALL_BODY)).handler(generate::handle);
        // a rater's routes check the token before the body is read
        var gate = arena.requireRater();
        router.post("/api/compare").handler(gate).handler(Http.body(SMALL_BODY)).handler(arena::compare);
        router.post("/api/ratings").handler(gate).handler(Http.body(RATING_BODY)).handler(arena::rate);
        router.get("/api/me").handler(gate).handler(arena::me);
        router.get("/api/ratings/export").handler(gate).handler(export::handle);
        router.route("/api/*").handler(ctx -> Http.error(ctx, "other", 404, "no such route: "
                + ctx.request().method() + " " + ctx.normalizedPath()));
        router.route("/*").handler(StaticHandler.create("webroot"));
        // failures say what went wrong in general terms only: exception text stays in the log
        router.route().failureHandler(ctx -> failed(ctx, ctx.statusCode() > 0 ? ctx.statusCode() : 500));
        // what no route matched, or the router refused itself, is answered and counted the same way
        for (int code : new int[] {400, 404, 405, 413, 415, 500}) router.errorHandler(code, ctx -> failed(ctx, code));
        return vertx.createHttpServer().requestHandler(router).listen(port).onSuccess(s -> boundPort = s.actualPort());
    }

    public int port() {
        return boundPort;
    }

    private static void failed(RoutingContext ctx, int code) {
        if (code >= 500) LOG.warn("{} {} failed", ctx.request().method(), ctx.normalizedPath(), ctx.failure());
        String message = switch (code) {
            case 413 -> "the body is too large";
            case 404 -> "not found";
            case 405 -> "method not allowed";
            case 415 -> "unsupported content type";
            default -> code >= 500 ? "internal error (see the server log)" : "bad request";
        };
        Http.error(ctx, "other", code, message);
    }

    /**
     * Ready once the pipeline status is known and every rater and rating the topics held at start has been read: before
     * that a valid token could be refused, or a re-sent rating written twice. (The ops port's {@code /ready}, which
     * Kubernetes probes, says the same.)
     */
    public boolean ready() {
        return status != null && raters.caughtUp() && ledger.caughtUp();
    }

    /** Model output is text, and the page's own scripts are the only ones that may run. */
    private static void securityHeaders(RoutingContext ctx) {
        ctx.response().putHeader("X-Content-Type-Options", "nosniff")
                .putHeader("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
                .putHeader("Referrer-Policy", "no-referrer");
        ctx.next();
    }

    private void onStatus(String json) {
        status = new JsonObject(json);
        JsonObject now = serving.servingJson();
        if (now != null) {
            status.put("serving", now);
            json = status.encode();
        }
        JsonObject policy = status.getJsonObject("policy", new JsonObject()).getJsonObject(settings.model());
        JsonObject checkpoint = status.getJsonObject("checkpoint", new JsonObject()).getJsonObject(settings.model());
        if (policy != null) {
            serving.want(new ServingModel.Policy(settings.model(), policy.getLong("version"),
                    policy.getString("checkpointLocation"), policy.getString("base")));
        } else if (checkpoint != null) {
            String location = checkpoint.getString("location");
            serving.want(new ServingModel.Policy(settings.model(), 0, location, location));
        }
        String frame = "event: status\ndata: " + json + "\n\n";
        for (HttpServerResponse r : listeners) {
            // a listener that does not keep up misses updates rather than growing a queue: each one is a full status
            if (!r.writeQueueFull()) r.write(frame);
        }
    }

    private void events(RoutingContext ctx) {
        if (listeners.size() >= MAX_LISTENERS) {
            Http.retryLater(ctx, "events", 503, 10, "too many live listeners");
            return;
        }
        HttpServerResponse r = ctx.response();
        r.setChunked(true).putHeader(HttpHeaders.CONTENT_TYPE, "text/event-stream").putHeader(HttpHeaders.CACHE_CONTROL, "no-cache");
        r.write(": millrace live status\n\n");
        if (status != null) r.write("event: status\ndata: " + status.encode() + "\n\n");
        listeners.add(r);
        r.closeHandler(v -> listeners.remove(r));
        Metrics.WEB_REQUESTS.labelValues("events", "2xx").inc();
    }

    /** What is served now, what is wanted next, and the newest policy version of every model. */
    private void policy(RoutingContext ctx) {
        ServingModel.Policy now = serving.serving();
        ServingModel.Policy next = serving.wanted();
        JsonObject body = new JsonObject().put("model", settings.model())
                .put("serving", serving.servingJson())
                .put("next", next == null || next.equals(now) ? null : JsonObject.mapFrom(next))
                .put("models", status == null ? new JsonObject() : status.getJsonObject("policy", new JsonObject()));
        Http.json(ctx, "policy", 200, body);
    }

    @Override
    public Future<?> stop() {
        listeners.forEach(HttpServerResponse::end);
        return vertx.executeBlocking(() -> {
            queue.close();
            serving.close();
            writer.close();
            export.close();
            return null;
        });
    }
}
