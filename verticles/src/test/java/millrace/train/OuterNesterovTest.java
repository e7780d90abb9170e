package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OuterNesterovTest {
    @TempDir
    Path dir;

    @Test
    void twoOuterStepsMatchAHandComputation() {
        // lr 0.5, momentum 0.5 (exact in binary), weights (1, -2), pseudo-gradients (0.4, -0.2) then (0.2, 0.2):
        // round 1: v = 0.5*0 + (0.4, -0.2) = (0.4, -0.2); θ = (1, -2) - 0.5*((0.4, -0.2) + 0.5*(0.4, -0.2))
        //          = (1, -2) - 0.5*(0.6, -0.3) = (0.7, -1.85)
        // round 2: v = 0.5*(0.4, -0.2) + (0.2, 0.2) = (0.4, 0.1); θ = (0.7, -1.85) - 0.5*((0.2, 0.2) + 0.5*(0.4, 0.1))
        //          = (0.7, -1.85) - 0.5*(0.4, 0.25) = (0.5, -1.975)
        OuterNesterov outer = new OuterNesterov(new float[] {1f, -2f}, 0.5f, 0.5f);
        outer.step(new float[] {0.4f, -0.2f});
        assertArrayEquals(new float[] {0.7f, -1.85f}, outer.weights(), 1e-6f);
        outer.step(new float[] {0.2f, 0.2f});
        assertArrayEquals(new float[] {0.5f, -1.975f}, outer.weights(), 1e-6f);
    }

    @Test
    void withMomentumZeroAndLearningRateOneItIsPlainAveraging() {
        OuterNesterov outer = new OuterNesterov(new float[] {3f, 4f}, 1f, 0f);
        outer.step(new float[] {1f, -1f}); // θ_start - mean(θ_start - θ_i) = mean(θ_i)
        assertArrayEquals(new float[] {2f, 5f}, outer.weights());
    }

    @Test
    void itsStateSurvivesACheckpointBitForBit() throws Exception {
        OuterNesterov outer = new OuterNesterov(new float[] {0.1f, 0.2f, 0.3f}, 0.7f, 0.9f);
        outer.step(new float[] {0.01f, -0.02f, 0.03f});
        outer.write(dir.resolve("outer.bin"));
        OuterNesterov back = OuterNesterov.read(dir.resolve("outer.bin"), 3, 0.7f, 0.9f);
        assertEquals(outer.digest(), back.digest());
        outer.step(new float[] {0.5f, 0.5f, 0.5f});
        back.step(new float[] {0.5f, 0.5f, 0.5f});
        assertArrayEquals(outer.weights(), back.weights(), 0f); // the momentum came back too
        assertThrows(java.io.IOException.class, () -> OuterNesterov.read(dir.resolve("outer.bin"), 4, 0.7f, 0.9f));
    }
}
