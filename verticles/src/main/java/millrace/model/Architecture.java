package millrace.model;

import java.util.List;

/**
 * A family of networks, written once: its parameters and its {@link #trunk} in {@link Tensors}' operations, as
 * nanoGPT's {@code model.py} writes GPT-2. {@link LanguageModel} holds the parameters and runs the trunk, through DJL
 * or as TorchScript, for whole sequences, packed rows, prompts and decode steps.
 */
public sealed interface Architecture permits Gpt2, Llama {
    ModelConfig config();

    /** One parameter: its full name, shape and initialisation. */
    record Parameter(String name, long[] shape, Init init, float std) {
        public enum Init { NORMAL, ONES, ZEROS }

        public static Parameter normal(String name, float std, long... shape) {
            return new Parameter(name, shape, Init.NORMAL, std);
        }

        public static Parameter ones(String name, long... shape) {
            return new Parameter(name, shape, Init.ONES, 0f);
        }

        public static Parameter zeros(String name, long... shape) {
            return new Parameter(name, shape, Init.ZEROS, 0f);
        }

        /** The same parameter under the name a layer gives it. */
        Parameter in(String prefix) {
            return new Parameter(prefix + name, shape, init, std);
        }
    }

    /** The parameters before the blocks (embeddings), in order. */
    List<Parameter> embedding();

    /** One block's parameters, named within the block, in order. */
    List<Parameter> block();

    /** The prefix of block {@code layer}'s parameter names ({@code h.3.}). */
    String layerPrefix(int layer);

    /** The parameters after the blocks (the final norm, an untied head), in order. */
    List<Parameter> head();

    /** The model's constants that are not parameters, by name, and how many numbers each holds. */
    default List<String> buffers() {
        return List.of();
    }

    /** The values of {@link #buffers}, in order, as {@code float[]} computed the way the reference computes them. */
    default List<float[]> bufferValues() {
        return List.of();
    }

    /**
     * The network up to the output projection: token {@code ids [B, T]} at {@code positions [B or 1, T]} to the final
     * normalised states {@code [B, T, width]}.
     */
    <T> T trunk(Tensors<T> o, T ids, T positions);

    /** The name of the token embedding, {@code [vocab, width]}. */
    String tokenEmbedding();

    /** The name of the output projection's weight, {@code [vocab, width]} (the token embedding where they are tied). */
    String outputWeight();

    /** Query heads per key/value head (1 without grouped-query attention). */
    int queryGroups();

    /** The parameters a token only looks up (no multiply): learned positions, an input embedding not tied to the output. */
    List<String> lookupOnly();

    /** The width of attention's queries, {@code heads · headDim}: its share of the FLOPs. */
    int attentionWidth();

    /** Every parameter in the model's order: embedding, each block's, head. */
    default List<Parameter> parameters() {
        List<Parameter> all = new java.util.ArrayList<>(embedding());
        for (int l = 0; l < config().layers(); l++) for (Parameter p : block()) all.add(p.in(layerPrefix(l)));
        all.addAll(head());
        return all;
    }
}
