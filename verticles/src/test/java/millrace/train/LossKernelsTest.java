package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import millrace.model.Gpt;
import org.junit.jupiter.api.Test;

/**
 * The trainer's three ways to compute the loss train alike: from the same weights on the same rows, the fused linear
 * and in-place losses give the plain one's loss and gradient norm at every step and the same weights after, with
 * whole batches and with micro-batches (whose losses and gradients are weighted by their share of the rows).
 */
class LossKernelsTest {
    private static final int STEPS = 4;

    /** Per step its loss and gradient norm, then every weight after the steps. */
    private static List<float[]> train(GptTrainer.Loss loss, int micro) {
        TrainSettings settings = TinyRuns.settings(micro);
        try (NDManager root = GptTrainer.newRootManager()) {
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(7);
            GptTrainer trainer = new GptTrainer(settings, root, Gpt.initialize(settings.model(), root), 0, 0);
            trainer.useLoss(loss);
            Random r = new Random(5);
            List<float[]> out = new ArrayList<>();
            for (int i = 0; i < STEPS; i++) {
                GptTrainer.StepResult step = trainer.step(TinyRuns.rows(r, 8));
                assertFalse(step.skipped(), loss + " step " + i);
                out.add(new float[] {step.loss(), step.gradNorm()});
            }
            trainer.model().parameters().values().forEach(p -> out.add(p.toFloatArray()));
            trainer.close();
            return out;
        }
    }

    @Test
    void everyLossTrainsAsThePlainOne() {
        for (int micro : new int[] {8, 3}) {
            List<float[]> plain = train(GptTrainer.Loss.PLAIN, micro);
            for (GptTrainer.Loss loss : new GptTrainer.Loss[] {GptTrainer.Loss.IN_PLACE, GptTrainer.Loss.FUSED_LINEAR}) {
                List<float[]> other = train(loss, micro);
                for (int i = 0; i < plain.size(); i++) {
                    float[] a = plain.get(i);
                    float[] b = other.get(i);
                    // weights: Adam divides by the gradient's running size, so where a gradient is ~0 its rounding
                    // moves the weight by a fraction of the learning rate; the next steps' losses and norms stay tight
                    float absolute = i < STEPS ? 1e-5f : 1e-4f;
                    for (int j = 0; j < a.length; j++) {
                        assertEquals(a[j], b[j], absolute + 1e-4f * Math.abs(a[j]),
                                loss + ", micro " + micro + (i < STEPS ? ", step " + i : ", weight " + (i - STEPS)) + "[" + j + "]");
                    }
                }
            }
        }
    }
}
