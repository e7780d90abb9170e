package millrace.kafka;

import static org.junit.jupiter.api.Assertions.*;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** A stage loop survives an Error, and health says when a loop keeps failing. */
class StageHealthTest {
    private static final class Failing extends StageVerticle {
        Failing(AtomicInteger steps, int goodSteps) {
            super("failing-test", vertx -> new Worker() {
                @Override
                public void step() {
                    if (steps.incrementAndGet() > goodSteps) throw new OutOfMemoryError("test: a step that fails");
                }

                @Override
                public void close() {}
            });
        }
    }

    @Test
    void aLoopThatKeepsFailingIsReportedAndKeepsRetrying() throws Exception {
        Vertx vertx = Vertx.vertx();
        try {
            AtomicInteger steps = new AtomicInteger();
            Failing stage = new Failing(steps, 5);
            stage.unhealthyAfter(2);
            vertx.deployVerticle(stage, new io.vertx.core.DeploymentOptions()
                    .setThreadingModel(io.vertx.core.ThreadingModel.WORKER)).await(10, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + 20_000_000_000L;
            JsonObject health = StageVerticle.health();
            while (!health.getString("status").equals("down") && System.nanoTime() < deadline) {
                Thread.sleep(100);
                health = StageVerticle.health();
            }
            assertEquals("down", health.getString("status"), health.encode());
            assertTrue(health.getJsonObject("stages").getString("failing-test").startsWith("failing"), health.encode());
            int before = steps.get();
            Thread.sleep(1500);
            assertTrue(steps.get() > before, "the loop goes on after an Error");
        } finally {
            vertx.close().await(10, TimeUnit.SECONDS);
        }
        assertFalse(StageVerticle.health().getJsonObject("stages").containsKey("failing-test"), "an undeployed loop is gone");
    }
}
