package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW (decoupled weight decay) with two parameter groups: matrices decay, while biases, LayerNorm gains and the
 * embeddings do not. The moment estimates live in this optimizer's own manager.
 */
public final class AdamW implements AutoCloseable {
    /** Hyper-parameters. */
    public record Settings(float beta1, float beta2, float epsilon, float weightDecay) {
        public static Settings defaults() {
            return new Settings(0.9f, 0.95f, 1e-8f, 0.1f);
        }
    }

    private final Settings settings;
    private final NDManager manager;
    private final Map<String, NDArray> firstMoment = new LinkedHashMap<>();
    private final Map<String, NDArray> secondMoment = new LinkedHashMap<>();
    /** libtorch's fused multi-tensor kernels: one call updates a whole parameter group, instead of a dozen ops and
     *  JNI round trips per parameter. */
    private final TorchScriptModule kernels;
    /** The parameter names of each group, fixed by the parameters' shapes and the embeddings' names: decayed, and not. */
    private final List<String> decayed = new ArrayList<>();
    private final List<String> undecayed = new ArrayList<>();
    private long steps;

    public AdamW(Map<String, NDArray> params, Settings settings, NDManager parent) {
        this(params, java.util.Set.of(), settings, parent);
    }

    /** {@code embeddings}: the matrices a token looks up, which do not decay either. */
    public AdamW(Map<String, NDArray> params, java.util.Set<String> embeddings, Settings settings, NDManager parent) {
        this.settings = settings;
        this.manager = parent.newSubManager();
        params.forEach((name, p) -> {
            firstMoment.put(name, manager.zeros(p.getShape(), p.getDataType()));
            secondMoment.put(name, manager.zeros(p.getShape(), p.getDataType()));
            (p.getShape().dimension() == 2 && !embeddings.contains(name) ? decayed : undecayed).add(name);
        });
        this.kernels = TorchScriptModule.compile((PtNDManager) manager, "AdamWKernels", kernelSource(settings));
    }

    /**
     * {@code update}: scales the gradients, then {@code torch._fused_adamw_} — PyTorch's {@code AdamW(fused=True)}:
     * {@code p -= lr·wd·p; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; p -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + ε)};
     * {@code norm}: the global L2 norm of a list; {@code zero}: zeroes a list in place.
     */
    private static String kernelSource(Settings s) {
        String self = "self: __torch__.AdamWKernels";
        return "  def update(" + self + ", params: List[Tensor], grads: List[Tensor], exp_avgs: List[Tensor],\n"
                + "      exp_avg_sqs: List[Tensor], step: Tensor, lr: float, weight_decay: float, grad_scale: float) -> None:\n"
                + "    torch._foreach_mul_(grads, grad_scale)\n"
                + "    steps = [step for _ in params]\n"
                + "    empty: List[Tensor] = []\n"
                + "    torch._fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, empty, steps, lr=lr, beta1="
                + TorchScriptModule.literal(s.beta1()) + ", beta2=" + TorchScriptModule.literal(s.beta2()) + ",\n"
                + "        weight_decay=weight_decay, eps=" + TorchScriptModule.literal(s.epsilon()) + ", amsgrad=False, maximize=False)\n"
                + "  def norm(" + self + ", tensors: List[Tensor]) -> Tensor:\n"
                + "    return torch.stack(torch._foreach_norm(tensors, 2)).norm()\n"
                + "  def zero(" + self + ", tensors: List[Tensor]) -> None:\n"
                + "    torch._foreach_zero_(tensors)\n"
                + "  def copy(" + self + ", dst: List[Tensor], src: List[Tensor]) -> None:\n"
                + "    for i in range(len(dst)):\n"
                + "      dst[i].copy_(src[i])\n";
    }


    /**
     * Updates every parameter from its gradient in {@code grads} times {@code gradScale} (clipping and loss-scale
     * factor), one fused kernel per parameter group; the gradients are left scaled, and the caller zeroes them. The
     * parameters must be attached to {@code step} (see {@link LanguageModel#attachTo}); its temporaries go with it.
     */
    public void step(Map<String, NDArray> params, Map<String, NDArray> grads, float learningRate, float gradScale,
            NDManager step) {
        steps++;
        NDArray stepCount = step.create((float) steps);
        update(decayed, params, grads, stepCount, learningRate, settings.weightDecay(), gradScale);
        update(undecayed, params, grads, stepCount, learningRate, 0f, gradScale);
    }

    private void update(List<String> names, Map<String, NDArray> params, Map<String, NDArray> grads, NDArray stepCount,
            float learningRate, float weightDecay, float gradScale) {
        if (names.isEmpty()) return;
        try (IValue p = list(names, params); IValue g = list(names, grads); IValue m = list(names, firstMoment);
                IValue v = list(names, secondMoment); IValue t = IValue.from((PtNDArray) stepCount);
                IValue lr = IValue.from((double) learningRate); IValue wd = IValue.from((double) weightDecay);
                IValue scale = IValue.from((double) gradScale)) {
            kernels.call("update", p, g, m, v, t, lr, wd, scale).close();
        }
    }

    private static IValue list(List<String> names, Map<String, NDArray> arrays) {
        return IValue.listFrom(names.stream().map(n -> (PtNDArray) arrays.get(n)).toArray(PtNDArray[]::new));
    }

    /** The L2 norm of all of {@code tensors} together, as a scalar of {@code owner}'s (one kernel per dtype). */
    public NDArray globalNorm(Collection<NDArray> tensors, NDManager owner) {
        try (IValue list = IValue.listFrom(tensors.stream().map(a -> (PtNDArray) a).toArray(PtNDArray[]::new));
                IValue norm = kernels.call("norm", list)) {
            return norm.toTensor((PtNDManager) owner);
        }
    }

    /** Zeroes {@code tensors} in place (gradients: {@code zero_}, which also clears a NaN, unlike a product by 0). */
    public void zero(Collection<NDArray> tensors) {
        try (IValue list = IValue.listFrom(tensors.stream().map(a -> (PtNDArray) a).toArray(PtNDArray[]::new))) {
            kernels.call("zero", list).close();
        }
    }

    /** Sets the count of updates taken (the bias corrections' t) back, with moments restored from a snapshot. */
    public void restoreSteps(long steps) {
        this.steps = steps;
    }

    /** Copies {@code from} into {@code to}, array by array, in place and in native memory (snapshots, restores). */
    public void copy(List<NDArray> to, List<NDArray> from) {
        try (IValue dst = IValue.listFrom(to.stream().map(a -> (PtNDArray) a).toArray(PtNDArray[]::new));
                IValue src = IValue.listFrom(from.stream().map(a -> (PtNDArray) a).toArray(PtNDArray[]::new))) {
            kernels.call("copy", dst, src).close();
        }
    }

    /** Writes the moments ({@code m.<parameter>}, {@code v.<parameter>}) as safetensors. */
    public void save(java.io.OutputStream out) throws java.io.IOException {
        ai.djl.ndarray.NDList list = new ai.djl.ndarray.NDList();
        state().forEach((name, a) -> {
            a.setName(name);
            list.add(a);
        });
        list.encode(out, ai.djl.ndarray.NDList.Encoding.SAFETENSORS);
    }

    /** Restores moments written by {@link #save} after {@code steps} updates, so the next update is the same. */
    public void load(java.io.InputStream in, long steps) throws java.io.IOException {
        Map<String, NDArray> state = state();
        try (NDManager scratch = manager.newSubManager()) {
            ai.djl.ndarray.NDList loaded = ai.djl.ndarray.NDList.decode(scratch, in);
            if (loaded.size() != state.size()) {
                throw new java.io.IOException("optimizer state has " + loaded.size() + " tensors, expected " + state.size());
            }
            for (NDArray a : loaded) {
                NDArray target = state.get(a.getName());
                if (target == null || !target.getShape().equals(a.getShape())) {
                    throw new java.io.IOException("optimizer tensor " + a.getName() + " does not fit the model");
                }
                target.set(a.toFloatArray());
            }
        }
        this.steps = steps;
    }

    /** Moments by parameter name, prefixed {@code m.} and {@code v.}, for checkpoints. */
    public Map<String, NDArray> state() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        firstMoment.forEach((k, a) -> out.put("m." + k, a));
        secondMoment.forEach((k, a) -> out.put("v." + k, a));
        return out;
    }

    @Override
    public void close() {
        kernels.close();
        manager.close();
    }
}
