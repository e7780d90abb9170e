package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import millrace.model.ModelConfig;

/**
 * The trainer's three ways to compute the loss train alike: from the same weights on the same rows, the fused linear
 * and in-place losses give the plain one's loss and gradient norm at every step and the same weights after, with
 * whole batches and with micro-batches (whose losses and gradients are weighted by their share of the rows); the
 * in-place one in bf16 and fp16 too.
 */
class LossKernelsTest {
    private static final int STEPS = 4;

    /** Per step its loss and gradient norm, then every weight after the steps. */
    private static List<float[]> train(ModelConfig family, ModelTrainer.Loss loss, int micro, TrainSettings.Precision precision) {
        TrainSettings settings = TinyRuns.settings(family, micro).withHardware(precision, "cpu");
        try (NDManager root = ModelTrainer.newRootManager()) {
            ModelTrainer trainer = TinyRuns.trainer(settings, root, loss);
            Random r = new Random(5);
            List<float[]> out = new ArrayList<>();
            for (int i = 0; i < STEPS; i++) {
                ModelTrainer.StepResult step = trainer.step(TinyRuns.rows(r, 8));
                assertFalse(step.skipped(), loss + " step " + i);
                out.add(new float[] {step.loss(), step.gradNorm()});
            }
            trainer.model().parameters().values().forEach(p -> out.add(p.toFloatArray()));
            trainer.close();
            return out;
        }
    }

    /** GPT-2's tied output projection, and an untied one (a Llama-family model with its own head). */
    static List<ModelConfig> families() {
        return millrace.model.TinyModels.families(200, 8);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void everyLossTrainsAsThePlainOneInFp32(ModelConfig family) {
        for (int micro : new int[] {8, 3}) {
            List<float[]> plain = train(family, ModelTrainer.Loss.PLAIN, micro, TrainSettings.Precision.FP32);
            for (ModelTrainer.Loss loss : new ModelTrainer.Loss[] {ModelTrainer.Loss.IN_PLACE, ModelTrainer.Loss.FUSED_LINEAR}) {
                // weights: Adam divides by the gradient's running size, so where a gradient is ~0 its rounding moves
                // the weight by a fraction of the learning rate; the next steps' losses and norms stay tight
                assertTrainsAlike(plain, train(family, loss, micro, TrainSettings.Precision.FP32), 1e-5f, 1e-4f, 1e-4f,
                        loss + " fp32, micro " + micro);
            }
        }
    }

    /**
     * bf16 and fp16 (with its loss scale of 2^16 on the gradient the kernel writes): both losses take the softmax in
     * fp32 and hand back a gradient in the low precision, so they differ where fp32 values round to neighbouring
     * low-precision ones.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void theInPlaceLossTrainsAsThePlainOneInBf16AndFp16(ModelConfig family) {
        for (TrainSettings.Precision precision : new TrainSettings.Precision[] {TrainSettings.Precision.BF16, TrainSettings.Precision.FP16}) {
            for (int micro : new int[] {8, 3}) {
                assertTrainsAlike(train(family, ModelTrainer.Loss.PLAIN, micro, precision),
                        train(family, ModelTrainer.Loss.IN_PLACE, micro, precision),
                        1e-4f, 2e-3f, 1e-3f, precision + ", micro " + micro);
            }
        }
    }

    private static void assertTrainsAlike(List<float[]> expected, List<float[]> actual, float absolute, float relative,
            float weightAbsolute, String what) {
        for (int i = 0; i < expected.size(); i++) {
            float[] a = expected.get(i);
            float[] b = actual.get(i);
            for (int j = 0; j < a.length; j++) {
                assertEquals(a[j], b[j], (i < STEPS ? absolute : weightAbsolute) + relative * Math.abs(a[j]),
                        what + (i < STEPS ? ", step " + i : ", weight " + (i - STEPS)) + "[" + j + "]");
            }
        }
    }
}
