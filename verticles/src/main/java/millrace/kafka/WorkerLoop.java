package millrace.kafka;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import java.util.function.Supplier;
import millrace.metrics.Metrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a stage's poll step over and over on the calling worker context, one step at a time, until stopped. A step
 * that throws closes the worker; a fresh one is built after a back-off and resumes from what Kafka committed.
 * Vert.x runs the handlers of a worker context one after another, so the stage's clients are never used by two
 * threads at once, and {@link #stop()} waits for the step in progress.
 */
public final class WorkerLoop {
    private static final Logger LOG = LoggerFactory.getLogger(WorkerLoop.class);

    /** One poll-and-process step of a stage; closing it releases its Kafka clients. */
    public interface Worker extends AutoCloseable {
        void step();

        @Override
        void close();
    }

    private final Vertx vertx;
    private final String stage;
    private final Supplier<Worker> factory;
    private Context context;
    private Worker worker;
    private volatile boolean stopped;

    public WorkerLoop(Vertx vertx, String stage, Supplier<Worker> factory) {
        this.vertx = vertx;
        this.stage = stage;
        this.factory = factory;
    }

    /** Builds the worker now (so that a broken configuration fails the deployment) and starts looping. */
    public void start() {
        context = vertx.getOrCreateContext();
        worker = factory.get();
        context.runOnContext(v -> run());
    }

    private void run() {
        if (stopped) return;
        try {
            if (worker == null) worker = factory.get();
            worker.step();
        } catch (RuntimeException e) {
            LOG.warn("{}: step failed, restarting from the last commit in 1 s: {}", stage, e.toString());
            LOG.debug("{} failure", stage, e);
            Metrics.STAGE_RESTARTS.labelValues(stage).inc();
            closeWorker();
            vertx.setTimer(1000, id -> run());
            return;
        }
        context.runOnContext(v -> run());
    }

    public void stop() {
        stopped = true;
        closeWorker();
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
