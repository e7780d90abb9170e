package millrace.web;

import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import millrace.metrics.Metrics;
import millrace.protocol.InvalidPayloadException;
import millrace.raters.RaterDirectory;

/** {@code POST /api/generate}: a continuation of a prompt from the serving policy, whole or streamed. */
final class GenerateHandler {
    private static final String ROUTE = "generate";
    private final Generations generations;
    private final RaterDirectory raters;

    GenerateHandler(Generations generations, RaterDirectory raters) {
        this.generations = generations;
        this.raters = raters;
    }

    void handle(RoutingContext ctx) {
        JsonObject body = Http.jsonBody(ctx, ROUTE).orElse(null);
        if (body == null) return;
        SamplingForm form;
        try {
            Object model = body.remove("model");
            if (model != null && !model.equals(generations.serving().model())) {
                throw new InvalidPayloadException("model", "this web role serves '" + generations.serving().model() + "'");
            }
            form = SamplingForm.parse(body);
        } catch (InvalidPayloadException e) {
            Http.invalid(ctx, ROUTE, e);
            return;
        }
        long started = System.nanoTime();
        // the generate box needs no token; without one a request may hold only a share of the generation queue
        boolean anonymous = raters.authenticate(Http.bearer(ctx)).isEmpty();
        generations.run(ctx, ROUTE, form.prompt(), form.settings(), new long[] {form.settings().seed()}, form.stream(),
                form.chat(), anonymous, new JsonObject(), result -> {
                    if (result.cancelled()) return null;
                    Metrics.WEB_GENERATE_SECONDS.observe((System.nanoTime() - started) / 1e9);
                    Generator.Answer a = result.answers().get(0);
                    return new JsonObject().put("prompt", a.prompt()).put("text", a.text())
                            .put("promptTokens", a.promptTokens()).put("newTokens", a.newTokens())
                            .put("finished", a.finished()).put("checkpointStep", a.checkpointStep())
                            .put("seconds", a.seconds()).put("model", result.policy().model())
                            .put("policyVersion", result.policy().version());
                });
    }
}
