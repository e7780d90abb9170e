package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@link Tensors} run as they are called, each operation a DJL call on the pass's arrays: the reference the
 * TorchScript methods are checked against, and the pass for what they do not cover (new tokens after a cache that
 * already holds some, rows of different lengths, {@code --kernels djl}). With {@code fused} off, attention, GELU and
 * SiLU are written out in elementary operations ({@code --kernels explicit}), the same functions.
 */
final class EagerTensors implements Tensors<NDArray> {
    /** The libtorch kernels DJL does not expose, as one-operation TorchScript modules, made once per model. */
    static final class Kernels implements AutoCloseable {
        private final TorchScriptModule causalTraining;
        private final TorchScriptModule causalInference;
        private final TorchScriptModule maskedTraining;
        private final TorchScriptModule maskedInference;
        /** One new token's attention over every cached key: nothing to mask. */
        private final TorchScriptModule decode;
        private final TorchScriptModule gelu;
        private final TorchScriptModule silu;
        /**
         * {@code x} in fp32, and in {@code like}'s dtype: casts inside autograd (DJL's own cast records no gradient, and
         * to bf16 it aborts).
         */
        private final TorchScriptModule toFloat;
        private final TorchScriptModule castLike;

        Kernels(PtNDManager manager, float dropout) {
            causalInference = causalAttention(manager, 0f);
            causalTraining = dropout == 0f ? causalInference : causalAttention(manager, dropout);
            maskedInference = attention(manager, "MaskedSelfAttention", true, 0f);
            maskedTraining = dropout == 0f ? maskedInference : attention(manager, "MaskedSelfAttention", true, dropout);
            decode = TorchScriptModule.compile(manager, "DecodeAttention",
                    "  def forward(self: __torch__.DecodeAttention, q: Tensor, k: Tensor, v: Tensor) -> Tensor:\n"
                    + "    return torch.scaled_dot_product_attention(q, k, v, None, 0., False)\n");
            gelu = TorchScriptModule.compile(manager, "GeluTanh",
                    "  def forward(self: __torch__.GeluTanh, x: Tensor) -> Tensor:\n"
                    + "    return torch.gelu(x, approximate=\"tanh\")\n");
            silu = TorchScriptModule.compile(manager, "Silu",
                    "  def forward(self: __torch__.Silu, x: Tensor) -> Tensor:\n    return torch.silu(x)\n");
            toFloat = TorchScriptModule.compile(manager, "ToFloat",
                    "  def forward(self: __torch__.ToFloat, x: Tensor) -> Tensor:\n    return torch.to(x, 6)\n");
            castLike = TorchScriptModule.compile(manager, "CastLike",
                    "  def forward(self: __torch__.CastLike, x: Tensor, like: Tensor) -> Tensor:\n"
                    + "    return torch.to(x, like.dtype)\n");
        }

        /**
         * {@code softmax(q·kᵀ/√d + mask)·v} by libtorch's {@code scaled_dot_product_attention}: FlashAttention or
         * memory-efficient attention on a GPU, a fused flash kernel on a CPU; neither writes the T × T scores to memory.
         * Causal, or with a boolean mask per row ({@code [B, 1, T, S]}).
         */
        static TorchScriptModule causalAttention(PtNDManager manager, float dropout) {
            return attention(manager, "CausalSelfAttention", false, dropout);
        }

        private static TorchScriptModule attention(PtNDManager manager, String name, boolean masked, float dropout) {
            String p = TorchScriptModule.literal(dropout);
            return TorchScriptModule.compile(manager, name, masked
                    ? "  def forward(self: __torch__." + name + ", q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:\n"
                            + "    return torch.scaled_dot_product_attention(q, k, v, mask, " + p + ", False)\n"
                    : "  def forward(self: __torch__." + name + ", q: Tensor, k: Tensor, v: Tensor) -> Tensor:\n"
                            + "    return torch.scaled_dot_product_attention(q, k, v, None, " + p + ", True)\n");
        }

        @Override
        public void close() {
            for (TorchScriptModule m : new TorchScriptModule[] {causalInference, maskedInference, decode, gelu, silu, toFloat, castLike}) {
                m.close();
            }
            if (causalTraining != causalInference) causalTraining.close();
            if (maskedTraining != maskedInference) maskedTraining.close();
        }
    }

    private final Architecture architecture;
    private final Map<String, NDArray> weights;
    private final Map<String, NDArray> buffers;
    private final Kernels kernels;
    private final boolean fused;
    private final boolean training;
    private final float dropout;
    /** What each token may attend to, {@code [B, 1, T, S]} (true: allowed); null: causal. */
    private final NDArray mask;
    /** The cache the pass extends, or null. */
    private final KvCache cache;
    /** Positions the cache held before this pass. */
    private final int past;
    private int layer;

    /**
     * A pass over {@code weights} (the parameters, or their casts) with {@code buffers}; attention causal, or by
     * {@code mask}, after and into {@code cache} when there is one.
     */
    EagerTensors(Architecture architecture, Map<String, NDArray> weights, Map<String, NDArray> buffers, Kernels kernels,
            boolean fused, boolean training, NDArray mask, KvCache cache) {
        this.architecture = architecture;
        this.weights = weights;
        this.buffers = buffers;
        this.kernels = kernels;
        this.fused = fused;
        this.training = training;
        this.dropout = training ? architecture.config().dropout() : 0f;
        this.mask = mask;
        this.cache = cache;
        this.past = cache == null ? 0 : cache.length();
    }

    @Override
    public NDArray weight(String name) {
        NDArray w = weights.get(name);
        if (w == null) throw new IllegalStateException("no parameter " + name);
        return w;
    }

    @Override
    public NDArray buffer(String name) {
        return buffers.get(name);
    }

    @Override
    public NDArray layers(NDArray x, Block<NDArray> block) {
        for (layer = 0; layer < architecture.config().layers(); layer++) {
            String prefix = architecture.layerPrefix(layer);
            x = block.apply(name -> weight(prefix + name), x);
        }
        return x;
    }

    @Override
    public NDArray embedding(NDArray table, NDArray ids) {
        return ids.getNDArrayInternal().embedding(ids, table, SparseFormat.DENSE).singletonOrThrow();
    }

    @Override
    public NDArray add(NDArray a, NDArray b) {
        return a.add(b);
    }

    @Override
    public NDArray mul(NDArray a, NDArray b) {
        return a.mul(b);
    }

    /**
     * libtorch's {@code linear}: on a contiguous {@code [B, T, in]} input one {@code addmm}, the bias added in the
     * matrix product's epilogue, where {@code matMul} then {@code add} would write the output and read it back.
     */
    @Override
    public NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        return JniUtils.linear((PtNDArray) x, (PtNDArray) weight, (PtNDArray) bias);
    }

    @Override
    public NDArray conv1d(NDArray x, NDArray weight, NDArray bias) {
        // the transposed view is the weight's manager's: closed here (autograd keeps its own reference)
        try (NDArray transposed = weight.transpose()) {
            return linear(x, transposed, bias);
        }
    }

    @Override
    public NDArray layerNorm(NDArray x, NDArray weight, NDArray bias, double eps) {
        return x.getNDArrayInternal().layerNorm(x, new Shape(weight.getShape().get(0)), weight, bias, (float) eps)
                .singletonOrThrow();
    }

    @Override
    public NDArray rmsNorm(NDArray x, NDArray weight, double eps) {
        NDArray wide = x.getDataType() == DataType.FLOAT32 ? x : kernels.toFloat.forward(x);
        NDArray meanSquare = Scalars.power(wide, 2f).mean(new int[] {-1}, true);
        NDArray normed = wide.div(meanSquare.add((float) eps).sqrt());
        return weight.mul(x.getDataType() == DataType.FLOAT32 ? normed : kernels.castLike.forward(normed, x));
    }

    @Override
    public NDArray geluTanh(NDArray x) {
        return fused ? kernels.gelu.forward(x) : explicitGelu(x);
    }

    /** 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))), as the fused kernel computes it. */
    static NDArray explicitGelu(NDArray x) {
        NDArray inner = Scalars.times(Scalars.times(Scalars.power(x, 3), 0.044715f).add(x), (float) Math.sqrt(2 / Math.PI)).tanh();
        return Scalars.times(x, 0.5f).mul(inner.add(1f));
    }

    @Override
    public NDArray silu(NDArray x) {
        return fused ? kernels.silu.forward(x) : x.mul(ai.djl.nn.Activation.sigmoid(x));
    }

    @Override
    public List<NDArray> split(NDArray x, int pieces) {
        return new ArrayList<>(x.split(pieces, x.getShape().dimension() - 1));
    }

    @Override
    public NDArray heads(NDArray x, int heads, int headDim) {
        Shape s = x.getShape();
        return x.reshape(s.get(0), s.get(1), heads, headDim).transpose(0, 2, 1, 3);
    }

    @Override
    public NDArray mergeHeads(NDArray x) {
        Shape s = x.getShape();
        return x.transpose(0, 2, 1, 3).reshape(s.get(0), s.get(2), s.get(1) * s.get(3));
    }

    @Override
    public Rotation<NDArray> rotation(NDArray positions, NDArray invFreq, NDArray like) {
        NDArray freqs = positions.toType(DataType.FLOAT32, false).expandDims(-1).mul(invFreq);
        NDArray angles = freqs.concat(freqs, -1);
        NDArray cos = angles.cos();
        NDArray sin = angles.sin();
        if (like.getDataType() != DataType.FLOAT32) {
            cos = kernels.castLike.forward(cos, like);
            sin = kernels.castLike.forward(sin, like);
        }
        return new Rotation<>(cos.expandDims(1), sin.expandDims(1));
    }

    @Override
    public NDArray rotate(NDArray x, Rotation<NDArray> rotation) {
        long half = x.getShape().get(3) / 2;
        NDArray rotated = x.get(new NDIndex("..., {}:", half)).neg().concat(x.get(new NDIndex("..., :{}", half)), -1);
        return x.mul(rotation.cos()).add(rotated.mul(rotation.sin()));
    }

    @Override
    public NDArray attend(NDArray q, NDArray k, NDArray v) {
        if (cache != null) {
            NDArray[] kv = cache.append(layer, k, v);
            k = kv[0];
            v = kv[1];
        }
        int groups = architecture.queryGroups();
        if (groups > 1) { // each key/value head serves a group of query heads: repeated for the kernel
            k = k.repeat(1, groups);
            v = v.repeat(1, groups);
        }
        long t = q.getShape().get(2);
        NDArray y;
        if (mask != null) {
            y = fused ? (training ? kernels.maskedTraining : kernels.maskedInference).forward(q, k, v, mask)
                    : explicitAttention(q, k, v, like(maskedOut(mask), q));
        } else if (fused && past == 0) {
            y = (training ? kernels.causalTraining : kernels.causalInference).forward(q, k, v);
        } else if (fused && t == 1 && !training) {
            y = kernels.decode.forward(q, k, v); // the newest position may look at every key: no mask
        } else {
            // new tokens after a cached prefix sit at positions past .. past+t and may look at every key up to their
            // own position: a mask the fused kernel's is_causal (aligned at the first key) does not express
            NDArray query = q.getManager().arange(past, past + (int) t).reshape(t, 1);
            NDArray key = q.getManager().arange(past + (int) t).reshape(1, past + t);
            NDArray future = key.gt(query).toType(DataType.FLOAT32, false);
            y = explicitAttention(q, k, v, like(Scalars.times(future, -1e9f), q));
        }
        return y;
    }

    /** {@code softmax(q·kᵀ/√d + additive)·v}, dropout on the weights while training. */
    private NDArray explicitAttention(NDArray q, NDArray k, NDArray v, NDArray additive) {
        float scale = (float) (1.0 / Math.sqrt(q.getShape().get(3)));
        return dropout(Scalars.times(q.matMul(k.transpose(0, 1, 3, 2)), scale).add(additive).softmax(-1)).matMul(v);
    }

    /** {@code x} in {@code like}'s dtype. */
    private NDArray like(NDArray x, NDArray like) {
        return x.getDataType() == like.getDataType() ? x : kernels.castLike.forward(x, like);
    }

    /** The additive form of a boolean mask: 0 where allowed, -1e9 elsewhere — in fp32 (in fp16 it is -inf, never 0 · -inf). */
    private static NDArray maskedOut(NDArray allowed) {
        return Scalars.times(allowed.logicalNot().toType(DataType.FLOAT32, false), -1e9f);
    }

    @Override
    public NDArray dropout(NDArray x) {
        if (dropout == 0f) return x;
        return x.getNDArrayInternal().dropout(x, dropout, true).singletonOrThrow();
    }
}
