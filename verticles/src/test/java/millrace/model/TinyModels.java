package millrace.model;

import java.util.List;

/** The tiny models every model test runs on: one per architecture family, the Llama one with every option on. */
public final class TinyModels {
    private TinyModels() {}

    /** GPT-2's tiny preset, and {@link #llama} — for {@code @MethodSource}. */
    public static List<ModelConfig> families(int vocab, int context) {
        return List.of(Gpt2Config.tiny(vocab, context), llama(vocab, context));
    }

    /**
     * A Llama-family model with everything the family has: two query heads per key/value head, a head width that is not
     * width / heads (Qwen3), q/k norms, biases on every projection, an output projection of its own, and Llama 3's
     * rope scaling with an original context of 8, so that a row of 16 has positions on both sides of it.
     */
    public static LlamaConfig llama(int vocab, int context) {
        return new LlamaConfig(LlamaConfig.Variant.QWEN3, 2, 32, 4, 2, 12, 48, vocab, context, 10_000,
                new LlamaConfig.RopeScaling(4, 1, 4, 8), 1e-5, true, true, true, true, false, 0f);
    }
}
