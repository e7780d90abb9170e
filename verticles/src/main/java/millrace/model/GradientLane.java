package millrace.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one place a process records gradients. DJL allows a single open {@link GradientCollector} per process (a static
 * flag in its PyTorch engine: a second one throws), and in {@code up} the train and feedback roles share the JVM, each
 * on its own thread. So every forward/backward goes through this lane: a fair lock, so that the two roles take turns
 * step by step instead of one starving the other. The optimizer's update runs outside it (it records nothing).
 */
public final class GradientLane {
    private static final ReentrantLock LANE = new ReentrantLock(true);

    private GradientLane() {}

    /** Waits for the lane, then opens the collector; closing the returned pass closes it and frees the lane. */
    public static Pass open() {
        LANE.lock();
        try {
            return new Pass(Engine.getEngine("PyTorch").newGradientCollector());
        } catch (RuntimeException e) {
            LANE.unlock();
            throw e;
        }
    }

    /** An open gradient collector, held by one thread. */
    public static final class Pass implements AutoCloseable {
        private final GradientCollector collector;

        private Pass(GradientCollector collector) {
            this.collector = collector;
        }

        public void backward(NDArray loss) {
            collector.backward(loss);
        }

        /** Backward from {@code output} with {@code gradient} as its gradient (a loss whose gradient is known). */
        public void backward(NDArray output, NDArray gradient) {
            ai.djl.pytorch.jni.JniUtils.backward((ai.djl.pytorch.engine.PtNDArray) output,
                    (ai.djl.pytorch.engine.PtNDArray) gradient, false, false);
        }

        @Override
        public void close() {
            try {
                collector.close();
            } finally {
                LANE.unlock();
            }
        }
    }
}
