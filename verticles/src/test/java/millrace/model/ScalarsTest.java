package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.Test;

/**
 * Constants in autograd paths survive a garbage collection between forward and backward: the collection frees the Java
 * buffers DJL's number overloads leave behind, and fresh direct buffers are written over that memory, as happens in a
 * busy process (see {@link Scalars}).
 */
class ScalarsTest {
    /** How many of {@code trials} steps got a gradient other than {@code expected} for {@code op} of [1, 2, 3]. */
    private static int wrongGradients(int trials, Function<NDArray, NDArray> op, float[] expected) {
        int wrong = 0;
        try (NDManager root = ModelTrainer.newRootManager()) {
            for (int trial = 0; trial < trials; trial++) {
                try (NDManager step = root.newSubManager()) {
                    NDArray x = step.create(new float[] {1f, 2f, 3f});
                    x.setRequiresGradient(true);
                    try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
                        NDArray y = op.apply(x).sum();
                        System.gc();
                        List<ByteBuffer> reuse = new ArrayList<>();
                        for (int i = 0; i < 1000; i++) reuse.add(ByteBuffer.allocateDirect(4).putFloat(0, 12345f));
                        c.backward(y);
                    }
                    float[] g = x.getGradient().toFloatArray();
                    for (int i = 0; i < g.length; i++) {
                        if (Math.abs(g[i] - expected[i]) > 1e-5f) {
                            wrong++;
                            break;
                        }
                    }
                }
            }
        }
        return wrong;
    }

    @Test
    void constantsOutliveTheStepsBackwardPass() {
        assertEquals(0, wrongGradients(100, x -> Scalars.times(x, 0.5f), new float[] {0.5f, 0.5f, 0.5f}));
        assertEquals(0, wrongGradients(100, x -> Scalars.over(x, 4f), new float[] {0.25f, 0.25f, 0.25f}));
        assertEquals(0, wrongGradients(100, x -> Scalars.power(x, 3f), new float[] {3f, 12f, 27f}));
        System.out.println("DJL's own mul(Number) under the same conditions: "
                + wrongGradients(100, x -> x.mul(0.5f), new float[] {0.5f, 0.5f, 0.5f}) + " wrong gradients of 100");
    }

    @Test
    void aConstantTakesTheArraysType() {
        try (NDManager root = ModelTrainer.newRootManager()) {
            NDArray half = root.create(new float[] {2f}).toType(ai.djl.ndarray.types.DataType.FLOAT16, false);
            assertEquals(ai.djl.ndarray.types.DataType.FLOAT16, Scalars.times(half, 3f).getDataType());
            assertEquals(6f, Scalars.times(half, 3f).toType(ai.djl.ndarray.types.DataType.FLOAT32, false).getFloat());
        }
    }
}
