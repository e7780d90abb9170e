package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import millrace.model.Gpt;
import millrace.model.GptConfig;
import org.junit.jupiter.api.Test;

/**
 * FP16 compute with fp32 master weights and dynamic loss scaling, exercised on the CPU (libtorch runs fp16 there
 * too, slowly): the first loss agrees with fp32, a tiny model still overfits a batch, and an overflowing scale is
 * halved until steps go through — without losing the batch. BF16 the same, without scaling.
 */
class MixedPrecisionTest {
    private static List<int[]> batch() {
        Random r = new Random(5);
        List<int[]> rows = new ArrayList<>();
        for (int i = 0; i < 4; i++) rows.add(r.ints(17, 0, 120).toArray());
        return rows;
    }

    private static TrainSettings settings(TrainSettings.Precision precision) {
        TrainSettings demo = TrainSettings.tinyDemo("t", 120, 16);
        return new TrainSettings("m", GptConfig.tiny(120, 16), "t", 4, demo.schedule(), demo.clipNorm(), demo.adam(),
                9, 60, 2, 0).withHardware(precision, "cpu");
    }

    private static GptTrainer trainer(TrainSettings settings, NDManager root) {
        ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(9);
        return new GptTrainer(settings, root, Gpt.initialize(settings.model(), root), 0, 0);
    }

    @Test
    void fp16AgreesWithFp32AndLearns() {
        try (NDManager root = GptTrainer.newRootManager()) {
            GptTrainer fp32 = trainer(settings(TrainSettings.Precision.FP32), root);
            GptTrainer fp16 = trainer(settings(TrainSettings.Precision.FP16), root);
            assertEquals(65536f, fp16.lossScale());
            GptTrainer.StepResult a = fp32.step(batch());
            GptTrainer.StepResult b = fp16.step(batch());
            assertEquals(a.loss(), b.loss(), 0.02f, "first loss, fp32 vs fp16");
            assertEquals(a.gradNorm(), b.gradNorm(), 0.05f * a.gradNorm(), "gradient norm (unscaled)");
            float last = b.loss();
            for (int i = 0; i < 80; i++) {
                GptTrainer.StepResult r = fp16.step(batch());
                if (!r.skipped()) last = r.loss();
            }
            assertTrue(last < 0.5f * b.loss(), "fp16 overfits a batch: " + b.loss() + " -> " + last);
            fp32.close();
            fp16.close();
        }
    }

    /** bf16 compute on fp32 master weights: no loss scaling (fp32's range), near fp32's first loss, and it learns. */
    @Test
    void bf16AgreesWithFp32AndLearnsWithoutScaling() {
        try (NDManager root = GptTrainer.newRootManager()) {
            GptTrainer fp32 = trainer(settings(TrainSettings.Precision.FP32), root);
            GptTrainer bf16 = trainer(settings(TrainSettings.Precision.BF16), root);
            assertEquals(1f, bf16.lossScale());
            GptTrainer.StepResult a = fp32.step(batch());
            GptTrainer.StepResult b = bf16.step(batch());
            assertEquals(a.loss(), b.loss(), 0.05f, "first loss, fp32 vs bf16 (8 bits of mantissa)");
            assertEquals(a.gradNorm(), b.gradNorm(), 0.1f * a.gradNorm(), "gradient norm");
            assertNotEquals(a.loss(), b.loss(), "the pass ran in bf16, not fp32");
            float last = b.loss();
            for (int i = 0; i < 80; i++) {
                GptTrainer.StepResult r = bf16.step(batch());
                assertFalse(r.skipped(), "bf16 never overflows here");
                last = r.loss();
            }
            assertTrue(last < 0.5f * b.loss(), "bf16 overfits a batch: " + b.loss() + " -> " + last);
            assertEquals(ai.djl.ndarray.types.DataType.FLOAT32, bf16.model().parameters().values().iterator().next().getDataType(),
                    "master weights stay fp32");
            fp32.close();
            bf16.close();
        }
    }

    @Test
    void anOverflowingScaleIsHalvedUntilStepsGoThrough() {
        try (NDManager root = GptTrainer.newRootManager()) {
            GptTrainer fp16 = trainer(settings(TrainSettings.Precision.FP16), root);
            fp16.useLossScaler(new LossScaler((float) Math.pow(2, 40), 2000)); // fp16 gradients overflow at this scale
            int overflows = 0;
            GptTrainer.StepResult r;
            do {
                r = fp16.step(batch());
                if (r.overflowed()) overflows++;
                assertTrue(overflows < 40, "the scale never came down");
            } while (r.skipped());
            assertTrue(overflows > 0, "2^40 overflows fp16");
            assertTrue(fp16.lossScale() < Math.pow(2, 40));
            assertEquals(1, r.step());
            assertTrue(Float.isFinite(r.loss()) && Float.isFinite(r.gradNorm()));
            fp16.close();
        }
    }

    @Test
    void scalerGrowsAfterItsIntervalAndNeverDropsBelowOne() {
        LossScaler s = new LossScaler(4f, 3);
        s.stepped();
        s.stepped();
        assertEquals(4f, s.scale());
        s.stepped();
        assertEquals(8f, s.scale());
        for (int i = 0; i < 10; i++) s.overflowed();
        assertEquals(1f, s.scale());
    }

    @Test
    void peakFlopsOfKnownGpus() {
        assertEquals(989.4e12, PeakFlops.peak("90", TrainSettings.Precision.FP16, false).getAsDouble());
        assertEquals(989.4e12, PeakFlops.peak("90", TrainSettings.Precision.BF16, false).getAsDouble());
        assertEquals(494.7e12, PeakFlops.peak("9.0", TrainSettings.Precision.FP32, true).getAsDouble());
        assertEquals(19.5e12, PeakFlops.peak("80", TrainSettings.Precision.FP32, false).getAsDouble());
        assertTrue(PeakFlops.peak("75", TrainSettings.Precision.FP16, false).isEmpty());
    }
}
