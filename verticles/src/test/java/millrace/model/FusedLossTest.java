package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.Test;

/**
 * The fused losses give the plain one's loss and every parameter's gradient (the tied embedding's included), whatever
 * the chunking: one chunk, chunks that divide the rows, and a short last chunk. The fused linear one in fp32; the
 * in-place one in fp32 and, against the plain loss of the same bf16 logits, in bf16, both over logits made through
 * autograd and with the projection outside it, into the kernel's buffer (the trainer's).
 */
class FusedLossTest {
    private static final Gpt2Config CONFIG = new Gpt2Config(2, 2, 16, 8, 97, 0f);

    private enum Kind { PLAIN, FUSED_LINEAR, IN_PLACE, PROJECTED }

    @Test
    void fusedLinearLossHasThePlainLossAndGradients() {
        try (NDManager root = ModelTrainer.newRootManager()) {
            Result plain = run(root, Kind.PLAIN, 0, DataType.FLOAT32);
            for (int chunk : new int[] {24, 8, 5}) {
                assertSame(plain, run(root, Kind.FUSED_LINEAR, chunk, DataType.FLOAT32), 1e-5f, 1e-4f, "fused linear, chunks of " + chunk);
            }
        }
    }

    @Test
    void inPlaceLossHasThePlainLossAndGradients() {
        try (NDManager root = ModelTrainer.newRootManager()) {
            Result plain = run(root, Kind.PLAIN, 0, DataType.FLOAT32);
            for (int chunk : new int[] {24, 8, 5}) {
                assertSame(plain, run(root, Kind.IN_PLACE, chunk, DataType.FLOAT32), 1e-5f, 1e-4f, "in place, chunks of " + chunk);
            }
            // bf16 logits: both take the softmax in fp32 and hand back a bf16 gradient, so they differ at most where
            // the fp32 values round to neighbouring bf16 ones
            Result plainBf16 = run(root, Kind.PLAIN, 0, DataType.BFLOAT16);
            for (int chunk : new int[] {24, 5}) {
                assertSame(plainBf16, run(root, Kind.IN_PLACE, chunk, DataType.BFLOAT16), 1e-5f, 2e-2f, "in place bf16, chunks of " + chunk);
            }
            for (int chunk : new int[] {24, 5}) {
                assertSame(plain, run(root, Kind.PROJECTED, chunk, DataType.FLOAT32), 1e-5f, 1e-4f, "projected, chunks of " + chunk);
                assertSame(plainBf16, run(root, Kind.PROJECTED, chunk, DataType.BFLOAT16), 1e-5f, 2e-2f, "projected bf16, chunks of " + chunk);
            }
        }
    }

    private static void assertSame(Result expected, Result actual, float lossTolerance, float relative, String what) {
        assertEquals(expected.loss, actual.loss, lossTolerance, "loss, " + what);
        for (int p = 0; p < expected.grads.size(); p++) {
            float[] a = expected.grads.get(p);
            float[] b = actual.grads.get(p);
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-6f + relative * Math.abs(a[i]), "parameter " + p + "[" + i + "], " + what);
            }
        }
    }

    private record Result(float loss, List<float[]> grads) {}

    /** One backward pass from fresh, identical weights, over the same 3 rows of 8 tokens. */
    private static Result run(NDManager root, Kind kind, int chunk, DataType precision) {
        Random r = new Random(11);
        long[] tokens = new long[3 * 9];
        for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(CONFIG.vocabSize());
        Engine.getEngine("PyTorch").setRandomSeed(3);
        LanguageModel gpt = LanguageModel.initialize(CONFIG, root);
        gpt.requireGradients();
        float loss;
        List<float[]> grads = new ArrayList<>();
        try (NDManager step = root.newSubManager()) {
            gpt.attachTo(step);
            NDArray batch = step.create(tokens, new Shape(3, 9));
            NDArray inputs = batch.get(":, 0:8");
            NDArray targets = batch.get(":, 1:");
            try (GradientLane.Pass c = GradientLane.open()) {
                switch (kind) {
                    case PLAIN -> {
                        NDArray l = LanguageModel.loss(logits(gpt, inputs, precision), targets);
                        loss = l.getFloat();
                        c.backward(l);
                    }
                    case FUSED_LINEAR -> {
                        FusedLinearCrossEntropy.Result f = FusedLinearCrossEntropy.of(
                                gpt.hidden(inputs, true).reshape(24, CONFIG.nEmbd()), gpt.outputWeight(), targets.reshape(24), chunk);
                        loss = f.loss();
                        c.backward(f.surrogate());
                        gpt.outputWeight().getGradient().addi(f.weightGradient());
                    }
                    case IN_PLACE -> {
                        NDArray logits = logits(gpt, inputs, precision).reshape(24, CONFIG.vocabSize());
                        try (InPlaceCrossEntropy kernel = InPlaceCrossEntropy.inChunksOf((PtNDManager) root, chunk)) {
                            loss = kernel.lossSumAndGradient(logits, targets.reshape(24), 1f / 24).getFloat() / 24;
                        }
                        // (DJL names bf16 "unknown")
                        assertEquals(precision == DataType.FLOAT32, logits.getDataType() == DataType.FLOAT32, "the logits' dtype");
                        c.backward(logits, logits);
                    }
                    case PROJECTED -> {
                        LanguageModel.Trunk trunk = gpt.trunk(inputs, true, precision);
                        NDArray states = trunk.hidden().reshape(24, CONFIG.nEmbd());
                        try (InPlaceCrossEntropy kernel = InPlaceCrossEntropy.inChunksOf((PtNDManager) root, chunk)) {
                            // a first call with more rows, so the buffer this one writes has room to spare
                            try (NDManager other = root.newSubManager()) {
                                NDArray more = states.stopGradient().concat(states.stopGradient(), 0);
                                more.attach(other);
                                kernel.projectLossAndGradient(more, trunk.outputWeight().stopGradient(),
                                        other.zeros(new Shape(48), DataType.INT64), 1f);
                            }
                            InPlaceCrossEntropy.Projected p = kernel.projectLossAndGradient(states, trunk.outputWeight(),
                                    targets.reshape(24), 1f / 24);
                            c.backward(states, p.stateGradient());
                            kernel.addWeightGradient(gpt.outputWeight().getGradient(), states);
                            loss = p.lossSum().getFloat() / 24;
                        }
                    }
                    default -> throw new AssertionError(kind);
                }
            }
            for (NDArray p : gpt.parameters().values()) grads.add(p.getGradient().toFloatArray());
        }
        gpt.close();
        return new Result(loss, grads);
    }

    private static NDArray logits(LanguageModel gpt, NDArray inputs, DataType precision) {
        return precision == DataType.FLOAT32 ? gpt.forward(inputs, true) : gpt.forwardMixed(inputs, true, precision);
    }
}
