package millrace.web;

import io.vertx.core.Context;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.function.Function;
import millrace.metrics.Metrics;
import millrace.model.Sampler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a request's generation through the {@link GenerationQueue} on the {@link ServingModel}, and answers it: as one
 * JSON body, or streamed as server-sent events ({@code start}, then {@code token} events as the text comes, then
 * {@code done} with the same body, or {@code error}). A client that goes away cancels its generation. What reaches the
 * client on a failure is a fixed message; the cause goes to the log.
 */
final class Generations {
    private static final Logger LOG = LoggerFactory.getLogger(Generations.class);

    private final ServingModel serving;
    private final GenerationQueue queue;

    Generations(ServingModel serving, GenerationQueue queue) {
        this.serving = serving;
        this.queue = queue;
    }

    ServingModel serving() {
        return serving;
    }

    /**
     * One answer per seed to {@code prompt}, as one batch. {@code start} is the {@code start} event's data (the
     * policy's model and version are added); {@code done} turns the result into the answer's body, or returns null when
     * there is nothing to answer (cancelled).
     */
    void run(RoutingContext ctx, String route, String prompt, Sampler.Settings settings, long[] seeds, boolean stream,
            Boolean chat, boolean fromAnonymous, JsonObject start, Function<GenerationQueue.Result, JsonObject> done) {
        long started = System.nanoTime();
        Context context = ctx.vertx().getOrCreateContext();
        EventStream events = new EventStream(ctx.response(), context);
        GenerationQueue.Ticket ticket = new GenerationQueue.Ticket();
        ctx.response().closeHandler(v -> ticket.cancel());
        boolean[] firstToken = {false};
        queue.submit(ticket, new GenerationQueue.Request(prompt, seeds, settings, chat, policy -> {
            if (stream) events.send("start", start.copy().put("model", policy.model()).put("policyVersion", policy.version()));
        }, (row, piece) -> {
            if (!firstToken[0]) {
                firstToken[0] = true;
                Metrics.WEB_FIRST_TOKEN_SECONDS.labelValues(route).observe((System.nanoTime() - started) / 1e9);
            }
            if (stream) {
                JsonObject token = new JsonObject().put("text", piece);
                if (seeds.length > 1) token.put("answer", row);
                events.send("token", token);
            }
        }), fromAnonymous).whenComplete((result, failure) -> context.runOnContext(v -> {
            if (failure == null) {
                if (result.cancelled()) Metrics.WEB_GENERATIONS_DROPPED.labelValues("cancelled").inc();
                JsonObject body = done.apply(result);
                if (body == null) {
                    events.end();
                } else if (stream) {
                    events.send("done", body);
                    events.end();
                    Metrics.WEB_REQUESTS.labelValues(route, "2xx").inc();
                } else {
                    Http.json(ctx, route, 200, body);
                }
                return;
            }
            Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
            if (cause instanceof CancellationException) {
                events.end(); // the client is gone: nobody to answer
            } else if (events.started()) {
                LOG.warn("{} failed after streaming began", route, cause);
                events.send("error", new JsonObject().put("error", "generation failed (see the server log)"));
                events.end();
                Metrics.WEB_REQUESTS.labelValues(route, "5xx").inc();
            } else if (cause instanceof GenerationQueue.Busy busy) {
                Http.retryLater(ctx, route, 503, busy.retryAfterSeconds, busy.getMessage() + ": try again shortly");
            } else if (cause instanceof Generator.NotChat notChat) {
                Http.invalid(ctx, route, new millrace.protocol.InvalidPayloadException("chat", notChat.getMessage()));
            } else if (cause instanceof ServingModel.NotReady notReady) {
                Http.retryLater(ctx, route, 503, 5, notReady.getMessage());
            } else {
                LOG.warn("{} failed", route, cause);
                Http.error(ctx, route, 500, "generation failed (see the server log)");
            }
        }));
    }
}
