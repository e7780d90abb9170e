package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.Test;

/** libtorch's fused kernels, reached through TorchScript archives, compute what the written-out ops compute. */
class TorchScriptModuleTest {
    @Test
    void fusedAttentionEqualsExplicitAttentionWithGradients() {
        try (NDManager root = ModelTrainer.newRootManager();
                TorchScriptModule fused = EagerTensors.Kernels.causalAttention((PtNDManager) root, 0f)) {
            Engine.getEngine("PyTorch").setRandomSeed(1);
            Shape shape = new Shape(2, 3, 7, 4);
            List<NDArray> qkv = List.of(root.randomNormal(shape), root.randomNormal(shape), root.randomNormal(shape));
            assertClose(run(root, qkv, in -> explicitAttention(in.get(0), in.get(1), in.get(2))),
                    run(root, qkv, in -> fused.forward(in.get(0), in.get(1), in.get(2))), 1e-5);
        }
    }

    @Test
    void fusedGeluEqualsTanhApproximation() {
        try (NDManager root = ModelTrainer.newRootManager();
                TorchScriptModule gelu = TorchScriptModule.compile((PtNDManager) root, "GeluTanh",
                        "  def forward(self: __torch__.GeluTanh, x: Tensor) -> Tensor:\n"
                        + "    return torch.gelu(x, approximate=\"tanh\")\n")) {
            List<NDArray> x = List.of(root.linspace(-6f, 6f, 97).reshape(1, 97));
            assertClose(run(root, x, in -> EagerTensors.explicitGelu(in.get(0))), run(root, x, in -> gelu.forward(in.get(0))), 1e-5);
        }
    }

    static List<ModelConfig> families() {
        return TinyModels.families(23, 8);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void wholeModelWithFusedKernelsEqualsWrittenOutOps(ModelConfig family) {
        try (NDManager root = ModelTrainer.newRootManager()) {
            LanguageModel gpt = tinyModel(root, 4, family);
            long[] tokens = tokens(7, 3);
            float[][] fused = null;
            for (int i = 0; i < 4; i++) fused = lossAndGradients(gpt, root, tokens); // and again: no state between calls
            gpt.useFusedKernels(false);
            float[][] explicit = lossAndGradients(gpt, root, tokens);
            // 2e-5 (this once needed 0.5% more: the written-out path's constants were DJL number overloads, whose buffers
            // a garbage collection could free before backward; see Scalars)
            assertClose(explicit, fused, 2e-5);
        }
    }

    /**
     * The forward pass as one TorchScript call ({@code the one-call method}) and as one DJL call an operation run the same
     * kernels: the same loss and gradients in fp32, and in bf16 and fp16 on casts of the weights.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void oneCallBlocksEqualTheBlocksAnOperationACallInEveryPrecision(ModelConfig family) {
        for (DataType low : new DataType[] {DataType.FLOAT32, DataType.BFLOAT16, DataType.FLOAT16}) {
            try (NDManager root = ModelTrainer.newRootManager()) {
                LanguageModel gpt = tinyModel(root, 5, family);
                long[] tokens = tokens(5, 2);
                float[][] oneCall = lossAndGradients(gpt, root, tokens, low);
                gpt.useScriptedBlocks(false);
                float[][] callPerOperation = lossAndGradients(gpt, root, tokens, low);
                if (low == DataType.FLOAT32) {
                    assertClose(callPerOperation, oneCall, 1e-6, 1e-5);
                } else {
                    // in bf16 an fp32 difference of an ulp (rsqrt against 1/sqrt in RMSNorm) can round to neighbouring
                    // values, and that compounds through the layers: each gradient as a whole, not element by element
                    assertCloseInNorm(callPerOperation, oneCall, 2e-2, low + " " + family.getClass().getSimpleName());
                }
            }
        }
    }

    /** The same for rows that pack several sequences (their own positions and mask): loss and every gradient. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void packedRowsInOneCallEqualTheBlocksAnOperationACall(ModelConfig family) {
        try (NDManager root = ModelTrainer.newRootManager()) {
            LanguageModel gpt = tinyModel(root, 6, family);
            long[] tokens = tokens(3, 1);
            long[] seg = {0, 0, 0, 1, 1, 1, 1, 1, 2, 3, 3, 4, 4, 4, 4, 4}; // two rows of 8, sequences back to back
            float[][] oneCall = packedLossAndGradients(gpt, root, tokens, seg);
            gpt.useScriptedBlocks(false);
            assertClose(packedLossAndGradients(gpt, root, tokens, seg), oneCall, 1e-6, 1e-5);
        }
    }

    private static float[][] packedLossAndGradients(LanguageModel gpt, NDManager root, long[] tokens, long[] seg) {
        List<float[]> out = new ArrayList<>();
        try (NDManager step = root.newSubManager()) {
            gpt.attachTo(step);
            NDArray batch = step.create(tokens, new Shape(2, 9));
            try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray loss = LanguageModel.loss(gpt.logits(gpt.hiddenPacked(batch.get(":, 0:8"), seg, true)), batch.get(":, 1:"));
                out.add(new float[] {loss.getFloat()});
                c.backward(loss);
            }
            for (NDArray p : gpt.parameters().values()) out.add(p.getGradient().toFloatArray());
            gpt.parameters().values().forEach(p -> ai.djl.pytorch.jni.JniUtils.zeroGrad((ai.djl.pytorch.engine.PtNDArray) p));
        }
        return out.toArray(float[][]::new);
    }

    @Test
    void aMethodThatDoesNotCompileIsAClearError() {
        try (NDManager root = ModelTrainer.newRootManager()) {
            Exception e = assertThrows(Exception.class, () -> TorchScriptModule.compile((PtNDManager) root, "Broken",
                    "  def forward(self: __torch__.Broken, x: Tensor) -> Tensor:\n    return torch.no_such_op(x)\n"));
            assertTrue(String.valueOf(e.getMessage()).contains("no_such_op"), e.getMessage());
        }
    }

    /** A 2-layer model over 23 ids of {@code family}, seeded, recording gradients. */
    private static LanguageModel tinyModel(NDManager root, int seed, ModelConfig family) {
        Engine.getEngine("PyTorch").setRandomSeed(seed);
        LanguageModel gpt = LanguageModel.initialize(family, root);
        gpt.requireGradients();
        return gpt;
    }

    /** Two rows of 9 ids under 23, {@code (i · step + offset) mod 23}. */
    private static long[] tokens(int step, int offset) {
        long[] tokens = new long[2 * 9];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (i * step + offset) % 23;
        return tokens;
    }

    private static float[][] lossAndGradients(LanguageModel gpt, NDManager root, long[] tokens) {
        return lossAndGradients(gpt, root, tokens, DataType.FLOAT32);
    }

    /** The loss and every parameter's gradient, the pass in {@code precision} (fp32, or casts to bf16 or fp16). */
    private static float[][] lossAndGradients(LanguageModel gpt, NDManager root, long[] tokens, DataType precision) {
        List<float[]> out = new ArrayList<>();
        try (NDManager step = root.newSubManager()) {
            gpt.attachTo(step);
            NDArray batch = step.create(tokens, new Shape(2, 9));
            try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray inputs = batch.get(":, 0:8");
                NDArray logits = precision == DataType.FLOAT32 ? gpt.forward(inputs, true) : gpt.forwardMixed(inputs, true, precision);
                NDArray loss = LanguageModel.loss(logits, batch.get(":, 1:"));
                out.add(new float[] {loss.getFloat()});
                c.backward(loss);
            }
            for (NDArray p : gpt.parameters().values()) out.add(p.getGradient().toFloatArray());
            gpt.parameters().values().forEach(p -> ai.djl.pytorch.jni.JniUtils.zeroGrad((ai.djl.pytorch.engine.PtNDArray) p));
        }
        return out.toArray(float[][]::new);
    }

    /** The output, then the gradient of every input under a fixed upstream gradient. */
    private static float[][] run(NDManager root, List<NDArray> inputs, Function<List<NDArray>, NDArray> op) {
        try (NDManager step = root.newSubManager()) {
            List<NDArray> leaves = new ArrayList<>();
            for (NDArray a : inputs) {
                NDArray leaf = a.duplicate();
                leaf.attach(step);
                leaf.setRequiresGradient(true);
                leaves.add(leaf);
            }
            List<float[]> out = new ArrayList<>();
            try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray y = op.apply(leaves);
                out.add(y.toFloatArray());
                NDArray upstream = step.arange((float) y.size()).reshape(y.getShape()).mul(0.37f).sin();
                c.backward(y.mul(upstream).sum());
            }
            for (NDArray leaf : leaves) out.add(leaf.getGradient().toFloatArray());
            return out.toArray(float[][]::new);
        }
    }

    private static void assertClose(float[][] expected, float[][] actual, double tolerance) {
        assertClose(expected, actual, tolerance, 0);
    }

    /** Each tensor within {@code relative} of the expected one, {@code ‖actual − expected‖ ≤ relative · ‖expected‖}. */
    private static void assertCloseInNorm(float[][] expected, float[][] actual, double relative, String what) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            double difference = 0;
            double size = 0;
            for (int j = 0; j < expected[i].length; j++) {
                difference += Math.pow(actual[i][j] - expected[i][j], 2);
                size += Math.pow(expected[i][j], 2);
            }
            assertTrue(Math.sqrt(difference) <= relative * Math.sqrt(size) + 1e-6,
                    what + ": tensor " + i + " differs by " + Math.sqrt(difference) + " of " + Math.sqrt(size));
        }
    }

    /** Every element within {@code absolute + relative · |expected|}. */
    private static void assertClose(float[][] expected, float[][] actual, double absolute, double relative) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i].length, actual[i].length, "tensor " + i);
            for (int j = 0; j < expected[i].length; j++) {
                assertEquals(expected[i][j], actual[i][j], absolute + relative * Math.abs(expected[i][j]),
                        "tensor " + i + " at " + j);
            }
        }
    }

    static NDArray explicitAttention(NDArray q, NDArray k, NDArray v) {
        long t = q.getShape().get(2);
        NDManager m = q.getManager();
        NDArray mask = m.arange(t).reshape(1, t).gt(m.arange(t).reshape(t, 1)).toType(DataType.FLOAT32, false).mul(-1e9f);
        return q.matMul(k.transpose(0, 1, 3, 2)).mul(1.0 / Math.sqrt(q.getShape().get(3))).add(mask).softmax(-1).matMul(v);
    }
}
