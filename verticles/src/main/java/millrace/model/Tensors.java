package millrace.model;

import java.util.List;

/**
 * The operations a family's network is written in, once ({@link Architecture#trunk}). {@link EagerTensors} runs them
 * on DJL arrays as they are called, an operation a call (the reference, and every pass the TorchScript methods do not
 * cover); {@link ScriptTensors} writes them as the source of a TorchScript method that libtorch runs in one call. So
 * both paths compute one network by construction, and a test compares their numbers.
 *
 * <p>{@code T} is a tensor: an {@code NDArray} when running, the name of a TorchScript variable when writing. Shapes
 * are {@code [B, T, C]} for a token's states, {@code [B, heads, T, headDim]} for attention.
 */
public interface Tensors<T> {
    /** A parameter of the model outside the blocks, by name. */
    T weight(String name);

    /** A constant of the model that is not a parameter (the rotary frequencies). */
    T buffer(String name);

    /** Every block in turn, {@code x} in and out: {@code block} is given each layer's weights. */
    T layers(T x, Block<T> block);

    /** One block: a layer's weights, and the states it adds to. */
    @FunctionalInterface
    interface Block<T> {
        T apply(Layer<T> layer, T x);
    }

    /** The parameters of the block being run, by their name within it ({@code attn.c_attn.weight}). */
    @FunctionalInterface
    interface Layer<T> {
        T weight(String name);
    }

    /** The rows of {@code table} that {@code ids} name. */
    T embedding(T table, T ids);

    T add(T a, T b);

    T mul(T a, T b);

    /** {@code x · weightᵀ + bias}: {@code weight} is {@code [out, in]} (PyTorch's {@code Linear}); {@code bias} null for none. */
    T linear(T x, T weight, T bias);

    /** {@code x · weight + bias} with {@code weight} {@code [in, out]}: GPT-2's {@code Conv1D}. */
    T conv1d(T x, T weight, T bias);

    /** LayerNorm over the last axis. */
    T layerNorm(T x, T weight, T bias, double eps);

    /**
     * RMSNorm over the last axis as Hugging Face's Llama computes it: in fp32 whatever {@code x} is, back to
     * {@code x}'s dtype, then scaled by {@code weight}.
     */
    T rmsNorm(T x, T weight, double eps);

    /** GPT-2's GELU, the tanh approximation. */
    T geluTanh(T x);

    /** {@code x · sigmoid(x)}. */
    T silu(T x);

    /** {@code x} cut along its last axis into {@code pieces} of equal width. */
    List<T> split(T x, int pieces);

    /** {@code [B, T, heads · headDim]} as {@code [B, heads, T, headDim]}. */
    T heads(T x, int heads, int headDim);

    /** {@code [B, heads, T, headDim]} as {@code [B, T, heads · headDim]}. */
    T mergeHeads(T x);

    /**
     * The rotary tables of a pass: cosines and sines {@code [B or 1, 1, T, headDim]} in {@code like}'s dtype, as the
     * implementation's {@link #rotate} reads them (TorchScript's sines have their first half negated).
     */
    record Rotation<T>(T cos, T sin) {}

    /**
     * Rotary embeddings' tables for {@code positions} ({@code [B or 1, T]}, int64) and the frequencies
     * {@code invFreq} ({@code [headDim / 2]}): angle {@code position · frequency}, each frequency twice (the
     * half-split layout), computed in fp32 and cast to {@code like}'s dtype, as Hugging Face's Llama does.
     */
    Rotation<T> rotation(T positions, T invFreq, T like);

    /** {@code x · cos + rotate_half(x) · sin}: the rotation of every head's halves by its position's angles. */
    T rotate(T x, Rotation<T> rotation);

    /**
     * Attention of the block being run: {@code q [B, heads, T, d]} over keys and values {@code [B, kvHeads, T, d]}
     * (each key/value head serves {@code heads / kvHeads} query heads), causal, and whatever this pass adds — a cache
     * it extends, a mask of its own per row, dropout while training. Scaled by {@code 1/√d}.
     */
    T attend(T q, T k, T v);

    /** Dropout at the pass's rate while training; {@code x} itself otherwise. */
    T dropout(T x);
}
