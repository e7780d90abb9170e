package millrace.model;

import static millrace.model.Architecture.Parameter.normal;
import static millrace.model.Architecture.Parameter.ones;
import static millrace.model.Architecture.Parameter.zeros;

import java.util.ArrayList;
import java.util.List;

/**
 * The Llama family as Hugging Face's {@code LlamaForCausalLM}, {@code Qwen2ForCausalLM} and {@code Qwen3ForCausalLM}
 * compute it: a token embedding; blocks of RMSNorm, grouped-query attention with rotary positions (the half-split
 * layout, Llama 3's frequency scaling), optional q/k/v biases (Qwen2) and per-head q/k RMSNorm (Qwen3), then RMSNorm and
 * a SwiGLU MLP ({@code down(silu(gate(x)) · up(x))}); a final RMSNorm and an output projection, tied to the embedding
 * or its own. Parameters carry Hugging Face's names and layouts ({@code [out, in]}), so import and export copy them
 * as they are. Initialisation is transformers': std 0.02 for every matrix, norms at one, biases at zero.
 */
public record Llama(LlamaConfig config) implements Architecture {
    private static final String EMBED = "model.embed_tokens.weight";
    private static final String INV_FREQ = "inv_freq";

    @Override
    public List<Parameter> embedding() {
        return List.of(normal(EMBED, 0.02f, config.vocabSize(), config.width()));
    }

    @Override
    public List<Parameter> block() {
        LlamaConfig c = config;
        int q = c.heads() * c.headDim();
        int kv = c.kvHeads() * c.headDim();
        List<Parameter> p = new ArrayList<>();
        p.add(ones("input_layernorm.weight", c.width()));
        projection(p, "self_attn.q_proj", q, c.width(), c.qkvBias());
        projection(p, "self_attn.k_proj", kv, c.width(), c.qkvBias());
        projection(p, "self_attn.v_proj", kv, c.width(), c.qkvBias());
        projection(p, "self_attn.o_proj", c.width(), q, c.outputBias());
        if (c.qkNorm()) {
            p.add(ones("self_attn.q_norm.weight", c.headDim()));
            p.add(ones("self_attn.k_norm.weight", c.headDim()));
        }
        p.add(ones("post_attention_layernorm.weight", c.width()));
        projection(p, "mlp.gate_proj", c.intermediate(), c.width(), c.mlpBias());
        projection(p, "mlp.up_proj", c.intermediate(), c.width(), c.mlpBias());
        projection(p, "mlp.down_proj", c.width(), c.intermediate(), c.mlpBias());
        return p;
    }

    private static void projection(List<Parameter> p, String name, int out, int in, boolean bias) {
        p.add(normal(name + ".weight", 0.02f, out, in));
        if (bias) p.add(zeros(name + ".bias", out));
    }

    @Override
    public String layerPrefix(int layer) {
        return "model.layers." + layer + ".";
    }

    @Override
    public List<Parameter> head() {
        List<Parameter> p = new ArrayList<>(List.of(ones("model.norm.weight", config.width())));
        if (!config.tiedEmbeddings()) p.add(normal("lm_head.weight", 0.02f, config.vocabSize(), config.width()));
        return p;
    }

    @Override
    public List<String> buffers() {
        return List.of(INV_FREQ);
    }

    @Override
    public List<float[]> bufferValues() {
        return List.of(inverseFrequencies(config));
    }

    @Override
    public <T> T trunk(Tensors<T> o, T ids, T positions) {
        T x = o.embedding(o.weight(EMBED), ids);
        Tensors.Rotation<T> rotation = o.rotation(positions, o.buffer(INV_FREQ), x);
        x = o.layers(x, (layer, h) -> block(o, layer, h, rotation));
        return o.rmsNorm(x, o.weight("model.norm.weight"), config.rmsEps());
    }

    /** {@code x + attention(norm(x))}, then {@code x + mlp(norm(x))}. */
    private <T> T block(Tensors<T> o, Tensors.Layer<T> w, T x, Tensors.Rotation<T> rotation) {
        LlamaConfig c = config;
        T h = o.rmsNorm(x, w.weight("input_layernorm.weight"), c.rmsEps());
        T q = o.heads(project(o, w, "self_attn.q_proj", h, c.qkvBias()), c.heads(), c.headDim());
        T k = o.heads(project(o, w, "self_attn.k_proj", h, c.qkvBias()), c.kvHeads(), c.headDim());
        T v = o.heads(project(o, w, "self_attn.v_proj", h, c.qkvBias()), c.kvHeads(), c.headDim());
        if (c.qkNorm()) { // Qwen3: each head's query and key normalised before the rotation
            q = o.rmsNorm(q, w.weight("self_attn.q_norm.weight"), c.rmsEps());
            k = o.rmsNorm(k, w.weight("self_attn.k_norm.weight"), c.rmsEps());
        }
        T y = o.attend(o.rotate(q, rotation), o.rotate(k, rotation), v);
        x = o.add(x, project(o, w, "self_attn.o_proj", o.mergeHeads(y), c.outputBias()));
        h = o.rmsNorm(x, w.weight("post_attention_layernorm.weight"), c.rmsEps());
        T gate = o.silu(project(o, w, "mlp.gate_proj", h, c.mlpBias()));
        T up = project(o, w, "mlp.up_proj", h, c.mlpBias());
        return o.add(x, project(o, w, "mlp.down_proj", o.mul(gate, up), c.mlpBias()));
    }

    private static <T> T project(Tensors<T> o, Tensors.Layer<T> w, String name, T x, boolean bias) {
        return o.linear(x, w.weight(name + ".weight"), bias ? w.weight(name + ".bias") : null);
    }

    @Override
    public String tokenEmbedding() {
        return EMBED;
    }

    @Override
    public String outputWeight() {
        return config.tiedEmbeddings() ? EMBED : "lm_head.weight";
    }

    @Override
    public int queryGroups() {
        return config.heads() / config.kvHeads();
    }

    @Override
    public List<String> lookupOnly() {
        return config.tiedEmbeddings() ? List.of() : List.of(EMBED);
    }

    @Override
    public int attentionWidth() {
        return config.heads() * config.headDim();
    }

    /**
     * The rotary frequencies {@code [headDim / 2]}, as transformers computes them in fp32:
     * {@code 1 / theta^(2i / headDim)}, then with Llama 3's scaling, frequencies of long wavelength divided by
     * {@code factor}, short ones kept, and those between blended.
     */
    static float[] inverseFrequencies(LlamaConfig c) {
        int dim = c.headDim();
        float[] inv = new float[dim / 2];
        for (int i = 0; i < inv.length; i++) {
            float exponent = (float) (2 * i) / dim;
            inv[i] = 1f / (float) Math.pow((float) c.ropeTheta(), exponent);
        }
        LlamaConfig.RopeScaling s = c.ropeScaling();
        if (s == null) return inv;
        double lowFreqWavelength = s.originalContext() / s.lowFreqFactor();
        double highFreqWavelength = s.originalContext() / s.highFreqFactor();
        for (int i = 0; i < inv.length; i++) {
            double wavelength = 2 * Math.PI / inv[i];
            if (wavelength < highFreqWavelength) continue;
            if (wavelength > lowFreqWavelength) {
                inv[i] = (float) (inv[i] / s.factor());
            } else {
                double smooth = (s.originalContext() / wavelength - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                inv[i] = (float) ((1 - smooth) * inv[i] / s.factor() + smooth * inv[i]);
            }
        }
        return inv;
    }
}
