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

        /** The stage is stopping (not failing): a last chance to hand work on before {@link #close}. */
        default void stop() {
            close();
        }
    }

    /**
     * A loop whose steps fail over and over is not ready (a broker outage: traffic should go elsewhere, but a restart
     * would not help); one that has failed this many times in a row (ten minutes of restarts: a full disk, a state a
     * fresh process might not have) or has not come back from one step for {@link #STUCK_NANOS} is not alive:
     * {@code /health} then says so, and Kubernetes restarts the pod.
     */
    private static final int FAILURES_UNHEALTHY = 600;
    private static final int FAILURES_NOT_READY = 3;
    private static final long STUCK_NANOS = 15L * 60 * 1_000_000_000L;
    /** Every running stage loop of this process, for {@link #health()}. */
    private static final java.util.Set<StageVerticle> LOOPS = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final String stage;
    private final Function<Vertx, Worker> factory;
    private Context context;
    private Worker worker;
    private volatile boolean stopped;
    /** When a step last began, and how many in a row failed. */
    private volatile long stepStartedNanos = System.nanoTime();
    private volatile boolean stepping;
    private volatile int failuresInRow;
    private int failuresUnhealthy = FAILURES_UNHEALTHY;

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
        LOOPS.add(this);
        context.runOnContext(v -> run());
        return Future.succeededFuture();
    }

    /**
     * Whether every stage loop of this process is alive ({@code status}: not stuck in one step, not failing for ten
     * minutes) and stepping ({@code ready}: its last steps did not fail). {@code stages} names each loop's state:
     * {@code up}, {@code failing (n failures in a row)} or {@code stuck in one step}.
     */
    public static io.vertx.core.json.JsonObject health() {
        io.vertx.core.json.JsonObject stages = new io.vertx.core.json.JsonObject();
        boolean up = true;
        boolean ready = true;
        for (StageVerticle loop : LOOPS) {
            boolean stuck = loop.stepping && System.nanoTime() - loop.stepStartedNanos > STUCK_NANOS;
            int failures = loop.failuresInRow;
            up &= !stuck && failures < loop.failuresUnhealthy;
            ready &= !stuck && failures < FAILURES_NOT_READY;
            stages.put(loop.stage, stuck ? "stuck in one step" : failures > 0 ? "failing (" + failures + " failures in a row)" : "up");
        }
        return new io.vertx.core.json.JsonObject().put("status", up ? "up" : "down").put("ready", ready).put("stages", stages);
    }

    /** Test hook: fewer failures in a row make the loop unhealthy. */
    void unhealthyAfter(int failures) {
        failuresUnhealthy = failures;
    }

    private void run() {
        if (stopped) return;
        stepStartedNanos = System.nanoTime();
        stepping = true;
        try {
            if (worker == null) worker = factory.apply(vertx);
            worker.step();
            failuresInRow = 0;
        } catch (Exception | Error e) {
            // an Error too (out of memory, a native library): the loop must not end while /health says up
            LOG.warn("{}: step failed, restarting from the last commit in 1 s: {}", stage, e.toString());
            LOG.debug("{} failure", stage, e);
            Metrics.STAGE_RESTARTS.labelValues(stage).inc();
            failuresInRow++;
            stepping = false;
            closeWorker();
            vertx.setTimer(1000, id -> run());
            return;
        }
        stepping = false;
        context.runOnContext(v -> run());
    }

    @Override
    public Future<?> stop() {
        LOOPS.remove(this);
        stopped = true;
        if (worker != null) {
            try {
                worker.stop(); // closes it too
            } catch (RuntimeException e) {
                LOG.warn("{}: stopping failed: {}", stage, e.toString());
            }
            worker = null;
        }
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
