package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.util.Random;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.Test;

/**
 * Backpropagation through the whole model agrees with central finite differences of the loss: GPT-2, and the Llama
 * family's RoPE (with Llama 3's scaling), RMSNorm (q/k norms too), SwiGLU, grouped-query attention and biases.
 */
class GradientCheckTest {
    private static final long[] TOKENS = {3, 7, 1, 9, 4, 4, 2, 10, 5, 0, 8, 6, 1, 3, 7, 2};

    private static float loss(LanguageModel gpt, NDManager root) {
        try (NDManager step = root.newSubManager()) {
            gpt.attachTo(step);
            NDArray batch = step.create(TOKENS, new Shape(2, 8));
            return LanguageModel.loss(gpt.forward(batch.get(":, 0:7"), false).stopGradient(), batch.get(":, 1:")).getFloat();
        }
    }

    static java.util.List<ModelConfig> families() {
        return java.util.List.of(new Gpt2Config(2, 2, 8, 8, 11, 0f), TinyModels.llama(11, 8));
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void gradientsMatchFiniteDifferences(ModelConfig family) {
        try (NDManager root = ModelTrainer.newRootManager()) {
            Engine.getEngine("PyTorch").setRandomSeed(3);
            LanguageModel gpt = LanguageModel.initialize(family, root);
            gpt.requireGradients();
            float[][] analytic = new float[gpt.parameters().size()][];
            try (NDManager step = root.newSubManager()) {
                gpt.attachTo(step);
                NDArray batch = step.create(TOKENS, new Shape(2, 8));
                try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
                    c.backward(LanguageModel.loss(gpt.forward(batch.get(":, 0:7"), true), batch.get(":, 1:")));
                }
                int i = 0;
                for (NDArray p : gpt.parameters().values()) analytic[i++] = p.getGradient().toFloatArray();
            }
            Random random = new Random(5);
            float eps = 1e-2f;
            int checked = 0;
            int i = 0;
            for (var e : gpt.parameters().entrySet()) {
                NDArray p = e.getValue();
                long size = p.getShape().size();
                for (int trial = 0; trial < 3; trial++) {
                    int flat = random.nextInt((int) size);
                    long[] at = p.getShape().dimension() == 1 ? new long[] {flat}
                            : new long[] {flat / p.getShape().get(1), flat % p.getShape().get(1)};
                    NDArray view = p.stopGradient();
                    float original = view.getFloat(at);
                    view.set(new NDIndex(at), original + eps);
                    float up = loss(gpt, root);
                    view.set(new NDIndex(at), original - eps);
                    float down = loss(gpt, root);
                    view.set(new NDIndex(at), original);
                    view.close();
                    float numeric = (up - down) / (2 * eps);
                    float exact = analytic[i][flat];
                    assertEquals(exact, numeric, 2e-3 + 0.05 * Math.abs(exact), e.getKey() + at.length + "@" + flat);
                    checked++;
                }
                i++;
            }
            assertEquals(3 * gpt.parameters().size(), checked);
        }
    }
}
