package millrace.model;

import static millrace.model.Architecture.Parameter.normal;
import static millrace.model.Architecture.Parameter.ones;
import static millrace.model.Architecture.Parameter.zeros;

import java.util.List;

/**
 * GPT-2, after nanoGPT's {@code model.py}: token and learned position embeddings, {@code nLayer} pre-LayerNorm blocks
 * of causal self-attention and a tanh-GELU MLP four times the width, a final LayerNorm, and the output projection tied
 * to the token embedding. Parameters carry Hugging Face's GPT-2 names and layouts ({@code h.0.attn.c_attn.weight} is
 * {@code [in, out]}, a {@code Conv1D}), so that export is a rename of the prefix. Initialisation is GPT-2's: std 0.02,
 * the residual projections scaled down by depth.
 */
public record Gpt2(Gpt2Config config) implements Architecture {
    private static final double EPS = 1e-5;

    @Override
    public List<Parameter> embedding() {
        return List.of(normal("wte.weight", 0.02f, config.vocabSize(), config.nEmbd()),
                normal("wpe.weight", 0.02f, config.blockSize(), config.nEmbd()));
    }

    @Override
    public List<Parameter> block() {
        int c = config.nEmbd();
        float residual = (float) (0.02 / Math.sqrt(2.0 * config.nLayer()));
        return List.of(ones("ln_1.weight", c), zeros("ln_1.bias", c),
                normal("attn.c_attn.weight", 0.02f, c, 3 * c), zeros("attn.c_attn.bias", 3 * c),
                normal("attn.c_proj.weight", residual, c, c), zeros("attn.c_proj.bias", c),
                ones("ln_2.weight", c), zeros("ln_2.bias", c),
                normal("mlp.c_fc.weight", 0.02f, c, 4 * c), zeros("mlp.c_fc.bias", 4 * c),
                normal("mlp.c_proj.weight", residual, 4 * c, c), zeros("mlp.c_proj.bias", c));
    }

    @Override
    public String layerPrefix(int layer) {
        return "h." + layer + ".";
    }

    @Override
    public List<Parameter> head() {
        return List.of(ones("ln_f.weight", config.nEmbd()), zeros("ln_f.bias", config.nEmbd()));
    }

    @Override
    public <T> T trunk(Tensors<T> o, T ids, T positions) {
        T x = o.add(o.embedding(o.weight("wte.weight"), ids), o.embedding(o.weight("wpe.weight"), positions));
        x = o.layers(o.dropout(x), (layer, h) -> block(o, layer, h));
        return o.layerNorm(x, o.weight("ln_f.weight"), o.weight("ln_f.bias"), EPS);
    }

    /** nanoGPT's {@code Block}: {@code x + attn(ln_1(x))}, then {@code x + mlp(ln_2(x))}. */
    private <T> T block(Tensors<T> o, Tensors.Layer<T> w, T x) {
        T h = o.layerNorm(x, w.weight("ln_1.weight"), w.weight("ln_1.bias"), EPS);
        List<T> qkv = o.split(o.conv1d(h, w.weight("attn.c_attn.weight"), w.weight("attn.c_attn.bias")), 3);
        int heads = config.nHead();
        int d = config.headDim();
        T y = o.attend(o.heads(qkv.get(0), heads, d), o.heads(qkv.get(1), heads, d), o.heads(qkv.get(2), heads, d));
        x = o.add(x, o.dropout(o.conv1d(o.mergeHeads(y), w.weight("attn.c_proj.weight"), w.weight("attn.c_proj.bias"))));
        h = o.layerNorm(x, w.weight("ln_2.weight"), w.weight("ln_2.bias"), EPS);
        h = o.geluTanh(o.conv1d(h, w.weight("mlp.c_fc.weight"), w.weight("mlp.c_fc.bias")));
        return o.add(x, o.dropout(o.conv1d(h, w.weight("mlp.c_proj.weight"), w.weight("mlp.c_proj.bias"))));
    }

    @Override
    public String tokenEmbedding() {
        return "wte.weight";
    }

    @Override
    public String outputWeight() {
        return "wte.weight";
    }

    @Override
    public int queryGroups() {
        return 1;
    }

    @Override
    public List<String> lookupOnly() {
        return List.of("wpe.weight");
    }

    @Override
    public int attentionWidth() {
        return config.nEmbd();
    }
}
