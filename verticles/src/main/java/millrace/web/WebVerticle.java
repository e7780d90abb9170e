package millrace.web;

import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.handler.StaticHandler;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import millrace.metrics.Metrics;
import millrace.model.Sampler;
import millrace.protocol.JsonSerde;

/**
 * The web role: the page, the JSON API, live events and the Prometheus endpoint. It reads pipeline status from the
 * event bus ({@link StatusVerticle}) and generates from the newest checkpoint announced on the checkpoints topic.
 */
public final class WebVerticle extends VerticleBase {
    private static final int MAX_PROMPT_CHARS = 4000;
    private static final int MAX_NEW_TOKENS = 512;

    private final int port;
    private final Generator generator = new Generator();
    private final Set<HttpServerResponse> listeners = new HashSet<>();
    private WorkerExecutor generation;
    private JsonObject status;
    private int boundPort;

    public WebVerticle(int port) {
        this.port = port;
    }

    @Override
    public Future<?> start() {
        // generation runs on its own thread, one request at a time (PyTorch per-thread state, one model copy)
        generation = vertx.createSharedWorkerExecutor("millrace-generate", 1);
        vertx.eventBus().<String>consumer(StatusVerticle.ADDRESS, msg -> {
            status = new JsonObject(msg.body());
            for (HttpServerResponse r : listeners) r.write("event: status\ndata: " + msg.body() + "\n\n");
        });

        Router router = Router.router(vertx);
        router.route().handler(BodyHandler.create().setBodyLimit(64 * 1024));
        router.get("/health").handler(ctx -> json(ctx, "health", 200, new JsonObject().put("status", "up")));
        router.get("/ready").handler(ctx -> json(ctx, "ready", status != null ? 200 : 503,
                new JsonObject().put("ready", status != null)));
        router.get("/metrics").handler(ctx -> {
            Metrics.WEB_REQUESTS.labelValues("metrics", "2xx").inc();
            ctx.response().putHeader("content-type", Metrics.CONTENT_TYPE).end(Metrics.scrape());
        });
        router.get("/api/status").handler(ctx -> {
            if (status == null) json(ctx, "status", 503, new JsonObject().put("error", "status not known yet"));
            else json(ctx, "status", 200, status);
        });
        router.get("/api/events").handler(this::events);
        router.post("/api/generate").handler(this::generate);
        router.route("/*").handler(StaticHandler.create("webroot"));

        return vertx.createHttpServer().requestHandler(router).listen(port).onSuccess(s -> boundPort = s.actualPort());
    }

    public int port() {
        return boundPort;
    }

    private void events(RoutingContext ctx) {
        HttpServerResponse r = ctx.response();
        r.setChunked(true).putHeader("content-type", "text/event-stream").putHeader("cache-control", "no-cache");
        r.write(": millrace live status\n\n");
        if (status != null) r.write("event: status\ndata: " + status.encode() + "\n\n");
        listeners.add(r);
        r.closeHandler(v -> listeners.remove(r));
        Metrics.WEB_REQUESTS.labelValues("events", "2xx").inc();
    }

    private void generate(RoutingContext ctx) {
        JsonObject body;
        try {
            body = ctx.body().asJsonObject();
        } catch (DecodeException | ClassCastException e) {
            json(ctx, "generate", 400, error("body is not a JSON object"));
            return;
        }
        if (body == null || !(body.getValue("prompt") instanceof String prompt)) {
            json(ctx, "generate", 400, error("prompt (a string) is required"));
            return;
        }
        if (prompt.length() > MAX_PROMPT_CHARS) {
            json(ctx, "generate", 400, error("prompt is longer than " + MAX_PROMPT_CHARS + " characters"));
            return;
        }
        Sampler.Settings settings;
        boolean stream;
        try {
            stream = body.getBoolean("stream", false);
            int maxTokens = body.getInteger("maxTokens", 64);
            double temperature = body.getDouble("temperature", 0.8);
            int topK = body.getInteger("topK", 40);
            double topP = body.getDouble("topP", 1.0);
            if (maxTokens < 1 || maxTokens > MAX_NEW_TOKENS) throw new IllegalArgumentException("maxTokens in 1.." + MAX_NEW_TOKENS);
            if (temperature < 0 || temperature > 5) throw new IllegalArgumentException("temperature in [0, 5]");
            if (topK < 0) throw new IllegalArgumentException("topK >= 0");
            settings = new Sampler.Settings(maxTokens, (float) temperature, topK, (float) topP,
                    body.getLong("seed", System.nanoTime()));
        } catch (ClassCastException | IllegalArgumentException e) {
            json(ctx, "generate", 400, error("bad sampling settings: " + e.getMessage()));
            return;
        }
        JsonObject model = status == null ? null : status.getJsonObject("checkpoint");
        String name = body.getString("model", "millrace");
        JsonObject checkpoint = model == null ? null : model.getJsonObject(name);
        if (checkpoint == null) {
            json(ctx, "generate", 503, error("no checkpoint of model '" + name + "' yet: training has not saved one"));
            return;
        }
        Path location = Path.of(checkpoint.getString("location"));
        long started = System.nanoTime();
        if (stream) {
            streamGeneration(ctx, location, prompt, settings, started);
            return;
        }
        generation.executeBlocking(() -> generator.generate(location, prompt, settings, token -> { }))
                .onSuccess(answer -> {
                    Metrics.WEB_GENERATE_SECONDS.observe((System.nanoTime() - started) / 1e9);
                    JsonNode node = JsonSerde.MAPPER.valueToTree(answer);
                    json(ctx, "generate", 200, new JsonObject(node.toString()));
                })
                .onFailure(e -> json(ctx, "generate", 500, error("generation failed: " + e.getMessage())));
    }

    /**
     * {@code "stream": true}: server-sent events on the response itself — {@code token} events with each piece of
     * text as it is generated, then one {@code done} event with the whole answer (or {@code error}).
     */
    private void streamGeneration(RoutingContext ctx, Path location, String prompt, Sampler.Settings settings, long started) {
        var response = ctx.response().setChunked(true).putHeader("content-type", "text/event-stream")
                .putHeader("cache-control", "no-cache");
        io.vertx.core.Context context = vertx.getOrCreateContext();
        java.util.function.BiConsumer<String, JsonObject> send = (event, data) -> context.runOnContext(v -> {
            if (!response.ended() && !response.closed()) response.write("event: " + event + "\ndata: " + data.encode() + "\n\n");
        });
        generation.executeBlocking(() -> generator.generate(location, prompt, settings,
                        generator.textDeltas(piece -> send.accept("token", new JsonObject().put("text", piece)))))
                .onComplete(result -> context.runOnContext(v -> {
                    if (result.succeeded()) {
                        Metrics.WEB_GENERATE_SECONDS.observe((System.nanoTime() - started) / 1e9);
                        JsonNode node = JsonSerde.MAPPER.valueToTree(result.result());
                        response.write("event: done\ndata: " + node + "\n\n");
                        Metrics.WEB_REQUESTS.labelValues("generate", "2xx").inc();
                    } else {
                        response.write("event: error\ndata: " + error("generation failed: " + result.cause().getMessage()).encode() + "\n\n");
                        Metrics.WEB_REQUESTS.labelValues("generate", "5xx").inc();
                    }
                    if (!response.ended()) response.end();
                }));
    }

    private static JsonObject error(String message) {
        return new JsonObject().put("error", message);
    }

    private static void json(RoutingContext ctx, String route, int code, JsonObject body) {
        Metrics.WEB_REQUESTS.labelValues(route, code / 100 + "xx").inc();
        ctx.response().setStatusCode(code).putHeader("content-type", "application/json").end(body.encode());
    }

    @Override
    public Future<?> stop() {
        listeners.forEach(r -> r.end());
        return generation.executeBlocking(() -> {
            generator.close();
            return null;
        }).eventually(() -> generation.close());
    }
}
