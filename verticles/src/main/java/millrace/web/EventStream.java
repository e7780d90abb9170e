package millrace.web;

import io.vertx.core.Context;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;

/**
 * Server-sent events on a POST's own response, written from any thread (the generation thread sends, the event loop
 * writes). The response starts with the first event, so that a request refused before its generation began still gets
 * a plain status code and JSON error instead of an event stream.
 */
final class EventStream {
    private final HttpServerResponse response;
    private final Context context;
    private boolean started;

    EventStream(HttpServerResponse response, Context context) {
        this.response = response;
        this.context = context;
    }

    /** Queues an event; nothing is written once the client has gone. */
    void send(String event, JsonObject data) {
        String frame = "event: " + event + "\ndata: " + data.encode() + "\n\n";
        context.runOnContext(v -> {
            if (response.ended() || response.closed()) return;
            if (!started) {
                started = true;
                response.setChunked(true).putHeader(HttpHeaders.CONTENT_TYPE, "text/event-stream")
                        .putHeader(HttpHeaders.CACHE_CONTROL, "no-cache");
            }
            response.write(frame);
        });
    }

    /** Whether the stream began (call on the event loop). */
    boolean started() {
        return started;
    }

    /** Ends the response after the events queued so far. */
    void end() {
        context.runOnContext(v -> {
            if (!response.ended() && !response.closed()) response.end();
        });
    }
}
