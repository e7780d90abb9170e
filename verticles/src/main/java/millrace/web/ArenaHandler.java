package millrace.web;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.SecurityPolicyHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import millrace.metrics.Metrics;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.Rating;
import millrace.raters.RaterDirectory;

/**
 * The arena's API, every route behind a rater's token: {@code POST /api/compare} (two answers to one prompt from the
 * serving policy, decoded as one batch), {@code POST /api/ratings} (202 once Kafka has the rating), {@code GET
 * /api/me} (who the token is, and how many ratings they made).
 */
final class ArenaHandler {
    private static final String RATER = "millrace.rater";

    private final Vertx vertx;
    private final RaterDirectory raters;
    private final Generations generations;
    private final Comparisons comparisons;
    private final RatingLedger ledger;
    private final RatingWriter writer;
    private final RateLimiter compareLimit;
    private final RateLimiter ratingLimit;

    ArenaHandler(Vertx vertx, RaterDirectory raters, Generations generations, RatingLedger ledger, RatingWriter writer,
            WebSettings settings) {
        this.vertx = vertx;
        this.raters = raters;
        this.generations = generations;
        this.ledger = ledger;
        this.writer = writer;
        this.comparisons = new Comparisons(settings.maxComparisons(), settings.comparisonTtlMillis());
        this.compareLimit = new RateLimiter(settings.comparesPerSecond(), settings.comparesBurst());
        this.ratingLimit = new RateLimiter(settings.ratingsPerSecond(), settings.ratingsBurst());
    }

    /**
     * The first handler of a rater's route, before the body is read: a request without a valid token (a revoked one
     * too) gets 401 without the server buffering its body. (A security-policy handler in Vert.x's terms: the router
     * lets only those run before the body handler.)
     */
    SecurityPolicyHandler requireRater() {
        return this::requireRater;
    }

    private void requireRater(RoutingContext ctx) {
        String path = ctx.normalizedPath();
        String route = path.endsWith("/export") ? "export" : path.substring(path.lastIndexOf('/') + 1);
        Optional<String> name = raters.authenticate(Http.bearer(ctx));
        if (name.isEmpty()) {
            if (route.equals("ratings")) Metrics.WEB_RATINGS.labelValues("unknown", "unauthorised").inc();
            Http.unauthorised(ctx, route);
            return;
        }
        ctx.put(RATER, name.get());
        ctx.next();
    }

    /** The rater {@link #requireRater} found. */
    static String rater(RoutingContext ctx) {
        return ctx.get(RATER);
    }

    void compare(RoutingContext ctx) {
        String route = "compare";
        String rater = rater(ctx);
        long wait = compareLimit.acquire(rater, System.currentTimeMillis());
        if (wait > 0) {
            Http.retryLater(ctx, route, 429, (wait + 999) / 1000, "too many comparisons: try again shortly");
            return;
        }
        JsonObject body = Http.jsonBody(ctx, route).orElse(null);
        if (body == null) return;
        SamplingForm form;
        try {
            form = SamplingForm.parse(body);
            // the feedback role scores a rated answer in the served model's own format: a comparison is always in it
            if (form.chat() != null) throw new InvalidPayloadException("chat", "a comparison is always in the served model's own format");
        } catch (InvalidPayloadException e) {
            Http.invalid(ctx, route, e);
            return;
        }
        String id = Comparisons.newId();
        long seed = form.settings().seed();
        long started = System.nanoTime();
        // a chat model answers raters in turns (null: the model's own format)
        generations.run(ctx, route, form.prompt(), form.settings(), new long[] {seed, seed + 1}, form.stream(), null, false,
                new JsonObject().put("comparisonId", id), result -> {
                    if (result.cancelled()) return null; // nobody saw the answers: nothing to rate
                    Metrics.WEB_COMPARE_SECONDS.observe((System.nanoTime() - started) / 1e9);
                    List<String> texts = new ArrayList<>();
                    JsonArray answers = new JsonArray();
                    for (Generator.Answer a : result.answers()) {
                        texts.add(a.text());
                        answers.add(new JsonObject().put("text", a.text()).put("policyVersion", result.policy().version())
                                .put("newTokens", a.newTokens()).put("finished", a.finished()));
                    }
                    comparisons.add(new Comparisons.Comparison(id, rater, result.policy(), form.prompt(), texts,
                            System.currentTimeMillis()));
                    return new JsonObject().put("comparisonId", id).put("prompt", form.prompt())
                            .put("model", result.policy().model()).put("policyVersion", result.policy().version())
                            .put("answers", answers);
                });
    }

    void rate(RoutingContext ctx) {
        String route = "ratings";
        String rater = rater(ctx);
        long wait = ratingLimit.acquire(rater, System.currentTimeMillis());
        if (wait > 0) {
            Metrics.WEB_RATINGS.labelValues("unknown", "rate_limited").inc();
            Http.retryLater(ctx, route, 429, (wait + 999) / 1000, "too many ratings: try again shortly");
            return;
        }
        JsonObject body = Http.jsonBody(ctx, route).orElse(null);
        if (body == null) {
            Metrics.WEB_RATINGS.labelValues("unknown", "invalid").inc();
            return;
        }
        RatingForm form;
        Rating rating;
        try {
            form = RatingForm.parse(body);
            Comparisons.Comparison shown = comparisons.find(form.comparisonId(), rater, System.currentTimeMillis())
                    .orElseThrow(() -> new InvalidPayloadException("comparisonId",
                            "unknown or expired comparison: rate answers this service showed you (compare again)"));
            rating = form.toRating(form.ratingId(rater), rater, shown, System.currentTimeMillis());
        } catch (InvalidPayloadException e) {
            Metrics.WEB_RATINGS.labelValues(kindOf(body), "invalid").inc();
            Http.invalid(ctx, route, e);
            return;
        }
        String kind = rating.kind().label();
        String slot = slot(rating);
        try {
            comparisons.claim(rating.comparisonId(), slot, rating.id());
        } catch (Comparisons.Taken taken) {
            Metrics.WEB_RATINGS.labelValues(kind, "invalid").inc();
            Http.error(ctx, route, 409, taken.getMessage());
            return;
        }
        // the producer may block on cluster metadata for a moment: never on the event loop
        vertx.executeBlocking(() -> writer.write(rating), false)
                .compose(future -> Future.fromCompletionStage(future, vertx.getOrCreateContext()))
                .onSuccess(receipt -> {
                    Metrics.WEB_RATINGS.labelValues(kind, receipt.duplicate() ? "duplicate" : "accepted").inc();
                    Http.json(ctx, route, 202, new JsonObject().put("id", receipt.id()).put("duplicate", receipt.duplicate())
                            .put("partition", receipt.partition()).put("offset", receipt.offset()));
                })
                .onFailure(e -> {
                    comparisons.release(rating.comparisonId(), slot, rating.id());
                    Metrics.WEB_RATINGS.labelValues(kind, "unavailable").inc();
                    Http.retryLater(ctx, route, 503, 1, "the rating was not acknowledged by Kafka: send it again"
                            + (form.idempotencyKey() != null ? " with the same idempotencyKey" : " with an idempotencyKey"));
                });
    }

    void me(RoutingContext ctx) {
        String name = rater(ctx);
        Http.json(ctx, "me", 200, new JsonObject().put("name", name).put("ratings", ledger.countOf(name)));
    }

    /** Which of a comparison's slots a rating takes: its choice, or a score or an edit of one answer. */
    private static String slot(Rating r) {
        String answer = r.answer() == null ? "" : " of answer " + "AB".charAt(r.answer());
        return switch (r.kind()) {
            case CHOICE -> "choice";
            case SCORE -> "score" + answer;
            case EDIT -> "edit" + answer;
        };
    }

    /** The kind an invalid body was trying to be, for the metric's label (bounded). */
    private static String kindOf(JsonObject body) {
        if (body.containsKey("choice")) return "choice";
        if (body.containsKey("score")) return "score";
        if (body.containsKey("editedAnswer")) return "edit";
        return "unknown";
    }
}
