package millrace.web;

import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.util.Optional;
import millrace.metrics.Metrics;
import millrace.protocol.InvalidPayloadException;

/** How the web role answers: JSON bodies, errors that say what is wrong (never a stack trace), counted per route. */
final class Http {
    private Http() {}

    /**
     * Reads bodies up to {@code limit} bytes into memory, for JSON routes only: never to disk (uploads off), so no
     * request can leave a file behind; past the limit, 413.
     */
    static BodyHandler body(int limit) {
        return BodyHandler.create(false).setBodyLimit(limit);
    }

    static void json(RoutingContext ctx, String route, int code, JsonObject body) {
        Metrics.WEB_REQUESTS.labelValues(route, code / 100 + "xx").inc();
        if (ctx.response().ended()) return;
        ctx.response().setStatusCode(code).putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(body.encode());
    }

    static void error(RoutingContext ctx, String route, int code, String message) {
        json(ctx, route, code, new JsonObject().put("error", message));
    }

    /** 400 naming the field that is wrong. */
    static void invalid(RoutingContext ctx, String route, InvalidPayloadException e) {
        json(ctx, route, 400, new JsonObject().put("error", e.getMessage()).put("field", e.field()));
    }

    /** 503 or 429 with the seconds after which to try again. */
    static void retryLater(RoutingContext ctx, String route, int code, long seconds, String message) {
        ctx.response().putHeader(HttpHeaders.RETRY_AFTER, Long.toString(Math.max(1, seconds)));
        error(ctx, route, code, message);
    }

    /**
     * The request's JSON object body; answers 415 (not declared JSON) or 400 (not a JSON object) itself and returns
     * empty when it is not one.
     */
    static Optional<JsonObject> jsonBody(RoutingContext ctx, String route) {
        String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
        if (type == null || !type.toLowerCase(java.util.Locale.ROOT).startsWith("application/json")) {
            error(ctx, route, 415, "the body must be JSON (Content-Type: application/json)");
            return Optional.empty();
        }
        try {
            JsonObject body = ctx.body().asJsonObject();
            if (body != null) return Optional.of(body);
        } catch (DecodeException | ClassCastException e) {
            // answered below
        }
        error(ctx, route, 400, "the body is not a JSON object");
        return Optional.empty();
    }

    /** The bearer token of the request, or null. */
    static String bearer(RoutingContext ctx) {
        String h = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) return null;
        return h.substring(7).trim();
    }

    /** 401, with the challenge that says a bearer token is wanted. */
    static void unauthorised(RoutingContext ctx, String route) {
        ctx.response().putHeader("WWW-Authenticate", "Bearer realm=\"millrace\"");
        error(ctx, route, 401, "a valid rater token is required (Authorization: Bearer <token>; ./millrace raters add NAME)");
    }
}
