package millrace.kafka;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import java.util.function.Function;
import millrace.metrics.Metrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A stage: deployed as a worker verticle, it runs its worker's poll step over and over, one step at a time, until
 * undeployed. A step that throws closes the worker; a fresh one is built after a back-off and resumes from what Kafka
 * committed. Vert.x runs the handlers of a worker context one after another, so the stage's clients are never used
 * by two threads at once, and {@link #stop()} waits for the step in progress.
 */
public abstract class StageVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(StageVerticle.class);

    /** One poll-and-process step of a stage; closing it releases its Kafka clients. */
    public interface Worker extends AutoCloseable {
        void step();

        @Override
        void close();
    }

    private final String stage;
    private final Function<Vertx, Worker> factory;
    private Context context;
    private Worker worker;
    private volatile boolean stopped;

    /**
     * @param stage the stage's name, in logs and in the restart counter
     * @param factory builds one incarnation of the stage's worker (given the Vert.x instance it runs on)
     */
    protected StageVerticle(String stage, Function<Vertx, Worker> factory) {
        this.stage = stage;
        this.factory = factory;
    }

    /** Builds the worker now (so that a broken configuration fails the deployment) and starts looping. */
    @Override
    public Future<?> start() {
        context = vertx.getOrCreateContext();
        Metrics.STAGE_RESTARTS.labelValues(stage); // the series exists (at 0) before the first restart
        worker = factory.apply(vertx);
        context.runOnContext(v -> run());
        return Future.succeededFuture();
    }

    private void run() {
        if (stopped) return;
        try {
            if (worker == null) worker = factory.apply(vertx);
            worker.step();
        } catch (Exception | Error e) {
            // an Error too (out of memory, a native library): the loop must not end while /health says up
            LOG.warn("{}: step failed, restarting from the last commit in 1 s: {}", stage, e.toString());
            LOG.debug("{} failure", stage, e);
            Metrics.STAGE_RESTARTS.labelValues(stage).inc();
            closeWorker();
            vertx.setTimer(1000, id -> run());
            return;
        }
        context.runOnContext(v -> run());
    }

    @Override
    public Future<?> stop() {
        stopped = true;
        closeWorker();
        return Future.succeededFuture();
    }

    private void closeWorker() {
        if (worker == null) return;
        try {
            worker.close();
        } catch (RuntimeException e) {
            LOG.debug("{}: close failed", stage, e);
        }
        worker = null;
    }
}
