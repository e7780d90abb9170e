package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.model.ModelConfig;
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
        return settings(Gpt2Config.tiny(120, 16), precision);
    }

    private static TrainSettings settings(ModelConfig family, TrainSettings.Precision precision) {
        TrainSettings demo = TrainSettings.tinyDemo("t", 120, 16);
        return new TrainSettings("m", family.withVocabulary(120), "t", 4, demo.schedule(), demo.clipNorm(), demo.adam(),
                9, 60, 2, 0).withHardware(precision, "cpu");
    }

    private static ModelTrainer trainer(TrainSettings settings, NDManager root) {
        ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(9);
        return new ModelTrainer(settings, root, LanguageModel.initialize(settings.model(), root), 0, 0);
    }

    static List<ModelConfig> families() {
        return millrace.model.TinyModels.families(120, 16);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void fp16AgreesWithFp32AndLearns(ModelConfig family) {
        agreesWithFp32AndLearns(family, TrainSettings.Precision.FP16, 65536f, 0.02f, 0.05f);
    }

    /** bf16: no loss scaling (it has fp32's range), and never a skipped step. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void bf16AgreesWithFp32AndLearnsWithoutScaling(ModelConfig family) {
        agreesWithFp32AndLearns(family, TrainSettings.Precision.BF16, 1f, 0.05f, 0.1f); // 8 bits of mantissa
    }

    /**
     * The first loss and gradient norm (unscaled) near fp32's, yet not fp32's; a tiny model overfits a batch; the
     * master weights stay fp32.
     */
    private static void agreesWithFp32AndLearns(ModelConfig family, TrainSettings.Precision precision, float scale,
            float lossTolerance, float gradTolerance) {
        try (NDManager root = ModelTrainer.newRootManager()) {
            ModelTrainer fp32 = trainer(settings(family, TrainSettings.Precision.FP32), root);
            ModelTrainer low = trainer(settings(family, precision), root);
            assertEquals(scale, low.lossScale());
            ModelTrainer.StepResult a = fp32.step(batch());
            ModelTrainer.StepResult b = low.step(batch());
            assertEquals(a.loss(), b.loss(), lossTolerance, "first loss, fp32 vs " + precision);
            assertNotEquals(a.loss(), b.loss(), "the pass ran in " + precision + ", not fp32");
            assertEquals(a.gradNorm(), b.gradNorm(), gradTolerance * a.gradNorm(), "gradient norm (unscaled)");
            float last = b.loss();
            for (int i = 0; i < 80; i++) {
                ModelTrainer.StepResult r = low.step(batch());
                assertFalse(r.skipped() && precision == TrainSettings.Precision.BF16, "bf16 never overflows");
                if (!r.skipped()) last = r.loss();
            }
            assertTrue(last < 0.5f * b.loss(), precision + " overfits a batch: " + b.loss() + " -> " + last);
            assertEquals(ai.djl.ndarray.types.DataType.FLOAT32,
                    low.model().parameters().values().iterator().next().getDataType(), "master weights stay fp32");
            fp32.close();
            low.close();
        }
    }

    @Test
    void anOverflowingScaleIsHalvedUntilStepsGoThrough() {
        try (NDManager root = ModelTrainer.newRootManager()) {
            ModelTrainer fp16 = trainer(settings(TrainSettings.Precision.FP16), root);
            fp16.useLossScaler(new LossScaler((float) Math.pow(2, 40), 2000)); // fp16 gradients overflow at this scale
            int overflows = 0;
            ModelTrainer.StepResult r;
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
