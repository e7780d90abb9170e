package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.LinkedHashMap;
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
    private long steps;

    public AdamW(Map<String, NDArray> params, Settings settings, NDManager parent) {
        this.settings = settings;
        this.manager = parent.newSubManager();
        params.forEach((name, p) -> {
            firstMoment.put(name, manager.zeros(p.getShape(), p.getDataType()));
            secondMoment.put(name, manager.zeros(p.getShape(), p.getDataType()));
        });
    }

    /** Whether a parameter is in the weight-decay group: 2-D weights, except the embeddings. */
    public static boolean decays(String name, NDArray p) {
        return p.getShape().dimension() == 2 && !name.startsWith("wte.") && !name.startsWith("wpe.");
    }

    /**
     * Updates every parameter from its gradient in {@code grads} times {@code gradScale} (clipping and loss-scale
     * factor); the caller zeroes the gradients. The parameters must be attached to
     * {@code step} (see {@link Gpt#attachTo}); every temporary is freed when the caller closes it.
     */
    public void step(Map<String, NDArray> params, Map<String, NDArray> grads, float learningRate, float gradScale,
            NDManager step) {
        steps++;
        firstMoment.values().forEach(a -> a.tempAttach(step));
        secondMoment.values().forEach(a -> a.tempAttach(step));
        float b1 = settings.beta1();
        float b2 = settings.beta2();
        float bias1 = (float) (1 - Math.pow(b1, steps));
        float bias2 = (float) (1 - Math.pow(b2, steps));
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray p = e.getValue();
            NDArray grad = grads.get(e.getKey());
            NDArray g = gradScale == 1f ? grad : grad.mul(gradScale);
            NDArray m = firstMoment.get(e.getKey());
            NDArray v = secondMoment.get(e.getKey());
            m.muli(b1).addi(g.mul(1 - b1));
            v.muli(b2).addi(g.square().muli(1 - b2));
            NDArray denominator = v.div(bias2).sqrt().addi(settings.epsilon());
            NDArray update = m.div(bias1).divi(denominator).muli(learningRate);
            NDArray data = p.stopGradient(); // shares storage: updating it updates the parameter, outside autograd
            if (decays(e.getKey(), p)) data.muli(1 - learningRate * settings.weightDecay());
            data.subi(update);
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
        manager.close();
    }
}
