package millrace.metrics;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.ext.web.Router;
import java.util.function.BooleanSupplier;

/**
 * Every Millrace process, whatever its roles, serves {@code /metrics} (Prometheus text), {@code /health} and
 * {@code /ready} on its operations port, so that Prometheus scrapes and Kubernetes probes each replica of each role.
 */
public final class MetricsVerticle extends VerticleBase {
    private final int port;
    private final BooleanSupplier ready;
    private int boundPort;

    /** @param ready whether the process's roles have started */
    public MetricsVerticle(int port, BooleanSupplier ready) {
        this.port = port;
        this.ready = ready;
    }

    @Override
    public Future<?> start() {
        Router router = Router.router(vertx);
        router.get("/metrics").handler(ctx -> ctx.response().putHeader("content-type", Metrics.CONTENT_TYPE)
                .end(Metrics.scrape()));
        // alive while every stage loop of the process is (one that failed for ten minutes, or hangs, is not)
        router.get("/health").handler(ctx -> {
            io.vertx.core.json.JsonObject health = millrace.kafka.StageVerticle.health();
            ctx.response().setStatusCode(health.getString("status").equals("up") ? 200 : 503)
                    .putHeader("content-type", "application/json").end(health.encode());
        });
        // ready once the roles started, and while no stage loop keeps failing (a broker outage: not a reason to restart)
        router.get("/ready").handler(ctx -> {
            boolean now = ready.getAsBoolean() && millrace.kafka.StageVerticle.health().getBoolean("ready");
            ctx.response().setStatusCode(now ? 200 : 503).putHeader("content-type", "application/json")
                    .end(new io.vertx.core.json.JsonObject().put("ready", now).encode());
        });
        return vertx.createHttpServer().requestHandler(router).listen(port).onSuccess(s -> boundPort = s.actualPort());
    }

    public int port() {
        return boundPort;
    }
}
