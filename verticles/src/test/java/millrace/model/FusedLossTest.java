package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import millrace.train.GptTrainer;
import org.junit.jupiter.api.Test;

/**
 * The fused output projection and cross-entropy gives the plain one's loss and every parameter's gradient (the tied
 * embedding's included), whatever the chunking: one chunk, chunks that divide the rows, and a short last chunk.
 */
class FusedLossTest {
    @Test
    void fusedLossHasThePlainLossAndGradients() {
        GptConfig config = new GptConfig(2, 2, 16, 8, 97, 0f);
        Random r = new Random(11);
        long[] tokens = new long[3 * 9];
        for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(97);
        try (NDManager root = GptTrainer.newRootManager()) {
            Result plain = run(root, config, tokens, 0);
            for (int chunk : new int[] {24, 8, 5}) {
                Result fused = run(root, config, tokens, chunk);
                assertEquals(plain.loss, fused.loss, 1e-5f, "loss, chunks of " + chunk);
                for (int p = 0; p < plain.grads.size(); p++) {
                    float[] a = plain.grads.get(p);
                    float[] b = fused.grads.get(p);
                    for (int i = 0; i < a.length; i++) {
                        assertEquals(a[i], b[i], 1e-6f + 1e-4f * Math.abs(a[i]), "parameter " + p + "[" + i + "], chunks of " + chunk);
                    }
                }
            }
        }
    }

    private record Result(float loss, List<float[]> grads) {}

    /** One backward pass from fresh, identical weights; {@code chunk} 0: the plain loss. */
    private static Result run(NDManager root, GptConfig config, long[] tokens, int chunk) {
        Engine.getEngine("PyTorch").setRandomSeed(3);
        Gpt gpt = Gpt.initialize(config, root);
        gpt.requireGradients();
        float loss;
        List<float[]> grads = new ArrayList<>();
        try (NDManager step = root.newSubManager()) {
            gpt.attachTo(step);
            NDArray batch = step.create(tokens, new Shape(3, 9));
            NDArray inputs = batch.get(":, 0:8");
            NDArray targets = batch.get(":, 1:");
            try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
                if (chunk == 0) {
                    NDArray l = Gpt.loss(gpt.forward(inputs, true), targets);
                    loss = l.getFloat();
                    c.backward(l);
                } else {
                    FusedLinearCrossEntropy.Result f = FusedLinearCrossEntropy.of(
                            gpt.hidden(inputs, true).reshape(24, config.nEmbd()), gpt.outputWeight(), targets.reshape(24), chunk);
                    loss = f.loss();
                    c.backward(f.surrogate());
                    gpt.outputWeight().getGradient().addi(f.weightGradient());
                }
            }
            for (NDArray p : gpt.parameters().values()) grads.add(p.getGradient().toFloatArray());
        }
        gpt.close();
        return new Result(loss, grads);
    }
}
