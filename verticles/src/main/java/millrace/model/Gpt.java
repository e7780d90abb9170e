package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GPT-2 style language model after nanoGPT's {@code model.py}: token + position embeddings, {@code nLayer}
 * pre-LayerNorm blocks of causal self-attention and a GELU MLP, a final LayerNorm, and an output projection tied to
 * the token embedding. {@link #blocks} writes it in DJL NDArray operations, the reference; the passes that run most
 * (whole sequences, a prompt, a decode step) run the same blocks as TorchScript methods, one call into libtorch each
 * ({@link #blockSource}).
 *
 * <p>Parameters are named and laid out as in Hugging Face's GPT-2 ({@code h.0.attn.c_attn.weight} is
 * {@code [in, out]}), so that export is a rename of the prefix. They live in this model's own manager; callers run
 * each step in a sub-manager and {@code tempAttach} the parameters to it, so that nothing a step creates outlives it.
 */
public final class Gpt implements AutoCloseable {
    private final GptConfig config;
    private final NDManager manager;
    private final Map<String, NDArray> params = new LinkedHashMap<>();
    /** Additive causal mask: 0 on and below the diagonal, a large negative number above it. */
    private final NDArray causalMask;
    /** libtorch's fused kernels (see {@link TorchScriptModule}): causal attention with the config's dropout and
     *  without, and GELU. */
    private final TorchScriptModule attentionTraining;
    private final TorchScriptModule attentionInference;
    /** The same with a mask of its own per row (packed sequences): with the config's dropout and without. */
    private final TorchScriptModule maskedAttentionTraining;
    private final TorchScriptModule maskedAttentionInference;
    /** One new token's attention over every cached key (generation): no mask to make, one fused kernel. */
    private final TorchScriptModule decodeAttention;
    /** A whole decode step (one new token per row after a cache) in one call: with a padding mask, and without. */
    private final TorchScriptModule decodeStepMasked;
    private final TorchScriptModule decodeStep;
    /**
     * Whole sequences without a mask of their own through every block in one call (training, evaluation): with the
     * config's dropout and without. Ragged batches (a cache of rows of different lengths) take {@link #blocks}.
     */
    private final TorchScriptModule blocksTraining;
    private final TorchScriptModule blocksInference;
    /** The same for a prompt into an empty cache: the states, then every layer's keys, then values. */
    private final TorchScriptModule blocksCaching;
    /** Rows packing several sequences (a position and a mask per token), with the config's dropout and without. */
    private final TorchScriptModule packedTraining;
    private final TorchScriptModule packedInference;
    private final TorchScriptModule gelu;
    /** {@link #ROW_LOGITS} as a method of its own (no autograd), for prompts projected outside the decode step. */
    private final TorchScriptModule rowLogits;
    /** The parameters cast to fp16 and to bf16 inside autograd (mixed precision). */
    private final TorchScriptModule toFp16;
    private final TorchScriptModule toBf16;
    private boolean fused = true;
    private boolean scripted = true;

    private Gpt(GptConfig config, NDManager parent) {
        this.config = config;
        this.manager = parent.newSubManager();
        this.attentionInference = causalAttention((PtNDManager) manager, 0f);
        this.attentionTraining = config.dropout() == 0f ? attentionInference
                : causalAttention((PtNDManager) manager, config.dropout());
        this.maskedAttentionInference = maskedAttention((PtNDManager) manager, 0f);
        this.maskedAttentionTraining = config.dropout() == 0f ? maskedAttentionInference
                : maskedAttention((PtNDManager) manager, config.dropout());
        this.decodeAttention = TorchScriptModule.compile((PtNDManager) manager, "DecodeAttention",
                "  def forward(self: __torch__.DecodeAttention, q: Tensor, k: Tensor, v: Tensor) -> Tensor:\n"
                + "    return torch.scaled_dot_product_attention(q, k, v, None, 0., False)\n");
        this.decodeStepMasked = decodeStep((PtNDManager) manager, config, true);
        this.decodeStep = decodeStep((PtNDManager) manager, config, false);
        this.blocksInference = blocksMethod((PtNDManager) manager, config, 0f, false, false);
        this.blocksTraining = config.dropout() == 0f ? blocksInference
                : blocksMethod((PtNDManager) manager, config, config.dropout(), false, false);
        this.blocksCaching = blocksMethod((PtNDManager) manager, config, 0f, true, false);
        this.packedInference = blocksMethod((PtNDManager) manager, config, 0f, false, true);
        this.packedTraining = config.dropout() == 0f ? packedInference
                : blocksMethod((PtNDManager) manager, config, config.dropout(), false, true);
        this.rowLogits = TorchScriptModule.compile((PtNDManager) manager, "RowLogits",
                "  def forward(self: __torch__.RowLogits, x: Tensor, wte: Tensor) -> Tensor:\n"
                + "    b = x.size(0)\n"
                + ROW_LOGITS
                + "    return logits\n");
        this.gelu = TorchScriptModule.compile((PtNDManager) manager, "GeluTanh",
                "  def forward(self: __torch__.GeluTanh, x: Tensor) -> Tensor:\n"
                + "    return torch.gelu(x, approximate=\"tanh\")\n");
        this.toFp16 = TorchScriptModule.compile((PtNDManager) manager, "ToFp16",
                "  def forward(self: __torch__.ToFp16, w: List[Tensor]) -> List[Tensor]:\n"
                + "    return [t.half() for t in w]\n");
        this.toBf16 = TorchScriptModule.compile((PtNDManager) manager, "ToBf16",
                "  def forward(self: __torch__.ToBf16, w: List[Tensor]) -> List[Tensor]:\n"
                + "    return [torch.to(t, 15) for t in w]\n"); // 15: ScalarType BFloat16 (serialized code has no dtype names)
        int t = config.blockSize();
        NDArray row = manager.arange(t).reshape(t, 1);
        NDArray col = manager.arange(t).reshape(1, t);
        this.causalMask = col.gt(row).toType(DataType.FLOAT32, false).mul(-1e9f);
    }

    /** A freshly initialised model: GPT-2 initialisation, std 0.02, residual projections scaled by depth. */
    public static Gpt initialize(GptConfig config, NDManager parent) {
        Gpt gpt = new Gpt(config, parent);
        int c = config.nEmbd();
        float std = 0.02f;
        float residualStd = (float) (std / Math.sqrt(2.0 * config.nLayer()));
        gpt.normal("wte.weight", std, config.vocabSize(), c);
        gpt.normal("wpe.weight", std, config.blockSize(), c);
        for (int i = 0; i < config.nLayer(); i++) {
            String h = "h." + i + ".";
            gpt.ones(h + "ln_1.weight", c);
            gpt.zeros(h + "ln_1.bias", c);
            gpt.normal(h + "attn.c_attn.weight", std, c, 3 * c);
            gpt.zeros(h + "attn.c_attn.bias", 3 * c);
            gpt.normal(h + "attn.c_proj.weight", residualStd, c, c);
            gpt.zeros(h + "attn.c_proj.bias", c);
            gpt.ones(h + "ln_2.weight", c);
            gpt.zeros(h + "ln_2.bias", c);
            gpt.normal(h + "mlp.c_fc.weight", std, c, 4 * c);
            gpt.zeros(h + "mlp.c_fc.bias", 4 * c);
            gpt.normal(h + "mlp.c_proj.weight", residualStd, 4 * c, c);
            gpt.zeros(h + "mlp.c_proj.bias", c);
        }
        gpt.ones("ln_f.weight", c);
        gpt.zeros("ln_f.bias", c);
        return gpt;
    }

    /** Loads weights written by {@link #save}; shapes are checked against the config. */
    public static Gpt load(GptConfig config, NDManager parent, Path safetensors) throws IOException {
        return load(config, parent, safetensors, name -> name);
    }

    /**
     * Loads weights whose names {@code rename} maps to this model's (null: a tensor to skip, such as a tied copy or
     * a non-persistent buffer). Every parameter must be present, with its shape.
     */
    public static Gpt load(GptConfig config, NDManager parent, Path safetensors,
            java.util.function.Function<String, String> rename) throws IOException {
        Gpt gpt = initialize(config, parent);
        try (InputStream in = Files.newInputStream(safetensors)) {
            gpt.read(in, rename, safetensors.toString());
        } catch (IOException | RuntimeException e) {
            gpt.close();
            throw e;
        }
        return gpt;
    }

    /** Overwrites every parameter with the weights {@link #save} wrote (a snapshot taken earlier, say). */
    public void read(InputStream safetensors) throws IOException {
        read(safetensors, name -> name, "the snapshot");
    }

    private void read(InputStream in, java.util.function.Function<String, String> rename, String source) throws IOException {
        NDList all = NDList.decode(manager, in);
        NDList loaded = new NDList();
        for (NDArray a : all) {
            String name = rename.apply(a.getName());
            if (name == null) {
                a.close();
                continue;
            }
            a.setName(name);
            loaded.add(a);
        }
        try {
            for (NDArray a : loaded) {
                NDArray target = params.get(a.getName());
                if (target == null) throw new IOException("unexpected tensor " + a.getName() + " in " + source);
                if (!target.getShape().equals(a.getShape())) {
                    throw new IOException(a.getName() + " has shape " + a.getShape() + ", config wants " + target.getShape());
                }
                target.set(a.toType(DataType.FLOAT32, false).toFloatArray());
            }
            if (loaded.size() != params.size()) {
                throw new IOException(source + " has " + loaded.size() + " tensors, model " + params.size());
            }
        } finally {
            loaded.close();
        }
    }

    /**
     * A copy of this model with a vocabulary of {@code vocabSize} (at least the current): the token embedding — and the
     * output projection tied to it — gains rows for the new tokens (the chat markers, say), each the mean of the
     * existing rows, so that a new token starts as an average token rather than a random one; every other weight is
     * copied. The copy lives in {@code parent}.
     */
    public Gpt withVocabulary(int vocabSize, NDManager parent) {
        int old = config.vocabSize();
        if (vocabSize < old) throw new IllegalArgumentException("a vocabulary only grows: " + old + " -> " + vocabSize);
        GptConfig grown = new GptConfig(config.nLayer(), config.nHead(), config.nEmbd(), config.blockSize(), vocabSize,
                config.dropout());
        Gpt out = initialize(grown, parent);
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray source = e.getValue();
            if (e.getKey().equals("wte.weight") && vocabSize > old) {
                try (NDManager scratch = manager.newSubManager()) {
                    source.tempAttach(scratch); // what is computed from it goes with the scratch scope
                    NDArray rows = source.mean(new int[] {0}, true).repeat(0, vocabSize - old);
                    out.params.get(e.getKey()).set(source.concat(rows, 0).toFloatArray());
                }
            } else {
                out.params.get(e.getKey()).set(source.toFloatArray());
            }
        }
        return out;
    }

    /** Writes every parameter, by name, as safetensors. */
    public void save(OutputStream out) throws IOException {
        NDList list = new NDList();
        params.forEach((name, p) -> {
            p.setName(name);
            list.add(p);
        });
        list.encode(out, NDList.Encoding.SAFETENSORS);
    }

    /** Logits {@code [B, T, vocab]} for token ids {@code idx [B, T]} (int64). */
    public NDArray forward(NDArray idx, boolean training) {
        Weights w = weights();
        return logits(w, hidden(w, idx, training, null));
    }

    /**
     * Logits {@code [B, vocab]} of the last position only, the cache then holding {@code idx} too: what generation
     * needs. A prompt of {@code n} tokens costs one projection onto the vocabulary instead of {@code n}. Computed
     * without autograd (inference tensors, the cache's too), and for up to {@link #WEIGHT_LEFT_ROWS} rows a transposed
     * view, not contiguous ({@link #ROW_LOGITS}).
     */
    public NDArray forwardLast(NDArray idx, KvCache cache) {
        if (oneCall() && cache != null && cache.rows() > 0 && idx.getShape().get(1) == 1) return decode(idx, cache);
        Weights w = weights();
        NDArray hidden = hidden(w, idx, false, cache);
        // IValues, not NDArrays: DJL passes an array named with a dot ("wte.weight") as a dict
        try (IValue x = IValue.from((PtNDArray) hidden.get(":, -1, :")); IValue wte = IValue.from((PtNDArray) w.wte());
                IValue out = rowLogits.call("forward", x, wte)) {
            return out.toTensor((PtNDManager) idx.getManager());
        }
    }

    /**
     * Low-precision logits ({@code FLOAT16} or {@code BFLOAT16}): the pass runs on casts of the fp32 parameters, made in
     * one call inside autograd, so the gradients come back through the casts into the fp32 parameters' own gradients,
     * in fp32. Unlike PyTorch's autocast, which keeps LayerNorm and the residual stream in fp32, everything but the
     * loss runs in the low precision here. {@link #loss} takes the softmax of such logits in fp32.
     * (DJL's own dtype cast runs without autograd, hence the TorchScript one.)
     */
    public NDArray forwardMixed(NDArray idx, boolean training, DataType low) {
        Weights w = castWeights(low);
        return logits(w, hidden(w, idx, training, null));
    }

    /** The weights cast to {@code low} inside autograd ({@link #forwardMixed}). */
    private Weights castWeights(DataType low) {
        TorchScriptModule cast = switch (low) {
            case FLOAT16 -> toFp16;
            case BFLOAT16 -> toBf16;
            default -> throw new IllegalArgumentException("mixed precision is fp16 or bf16, not " + low);
        };
        NDList casts = cast.forwardList(new ArrayList<>(params.values()));
        Map<String, NDArray> named = new LinkedHashMap<>();
        int i = 0;
        for (String name : params.keySet()) named.put(name, casts.get(i++));
        return Weights.of(named, config.nLayer());
    }

    /**
     * A pass up to the output projection, for a caller that projects (and differentiates the projection) itself: the
     * final states and the weight of that same pass that projects them, both in {@code precision} and in the autograd
     * graph (in fp16 or bf16, casts of the fp32 parameters, as in {@link #forwardMixed}).
     */
    public record Trunk(NDArray hidden, NDArray outputWeight) {}

    /** {@link Trunk} of {@code idx} in {@code precision}: FLOAT32, or FLOAT16 or BFLOAT16. */
    public Trunk trunk(NDArray idx, boolean training, DataType precision) {
        Weights w = precision == DataType.FLOAT32 ? weights() : castWeights(precision);
        return new Trunk(hidden(w, idx, training, null), w.wte());
    }

    /**
     * The final layer's normalised states {@code [B, T, C]}, before the output projection: a caller that scores only
     * some positions projects just those ({@link #logits}) — the projection onto the vocabulary is most of a small
     * model's work.
     */
    public NDArray hidden(NDArray idx, boolean training) {
        return hidden(weights(), idx, training, null);
    }

    /** The output projection's weight {@code [vocab, C]}: the token embedding, tied. */
    public NDArray outputWeight() {
        return params.get("wte.weight");
    }

    /** Logits for final-layer states {@code [..., C]}: the projection tied to the token embedding. */
    public NDArray logits(NDArray hidden) {
        return logits(weights(), hidden);
    }

    private static NDArray logits(Weights w, NDArray hidden) {
        return hidden.matMul(w.wte().transpose());
    }

    /** Up to this many rows, {@link #ROW_LOGITS} puts the weight on the left. */
    static final int WEIGHT_LEFT_ROWS = 8;

    /**
     * The logits of rows {@code x [b, C]}. Up to {@link #WEIGHT_LEFT_ROWS} rows as {@code wte · xᵀ} transposed back: a
     * product with the {@code [vocab, C]} weight on the left, which libtorch's CPU BLAS runs 1.5–6× faster here at 1–8
     * rows than {@code x · wteᵀ} (timed alone in PyTorch 2.13 on 2 threads, one run: 1 row doubled 0.9 against
     * 2.5 ms, 2 rows 0.9 against 4.3, 3 rows 1.1 against 6.4, 4 rows 1.0 against 2.6, 8 rows 1.9 against 2.8; other
     * runs moved these by tens of percent, the README quotes one; from 12 rows on it is 5–15% slower, so more rows keep
     * {@code x · wteᵀ}). One row is doubled: as a matrix-vector product it is no faster. Needs {@code b} (the rows),
     * {@code x} and {@code wte} in scope; assigns {@code logits [b, vocab]}: up to {@link #WEIGHT_LEFT_ROWS} rows a
     * transposed view of the product, not copied out (the copy of {@code [vocab, 8]} cost 0.2–0.3 ms a step, some 7%
     * of one at batch 8; a greedy argmax reads the view as fast, and a sampler's copy to Java makes it contiguous
     * anyway). Generation's projection, in
     * the decode step and (as {@link #rowLogits}) after a prompt; training keeps {@code x · wteᵀ}: its loss reads the
     * logits row by row.
     */
    private static final String ROW_LOGITS =
            "    if b > " + WEIGHT_LEFT_ROWS + ":\n"
            + "      logits = torch.matmul(x, torch.t(wte))\n"
            + "    elif b == 1:\n"
            + "      logits = torch.narrow(torch.t(torch.matmul(wte, torch.t(torch.cat([x, x])))), 0, 0, 1)\n"
            + "    else:\n"
            + "      logits = torch.t(torch.matmul(wte, torch.t(x)))\n";

    private NDArray hidden(Weights w, NDArray idx, boolean training, KvCache cache) {
        long t = idx.getShape().get(1);
        if (cache != null && cache.starts != null) return hiddenRagged(w, idx, cache);
        int past = cache == null ? 0 : cache.length;
        if (past + t > config.blockSize()) {
            throw new IllegalArgumentException("sequence " + (past + t) + " > block " + config.blockSize());
        }
        if (oneCall() && cache == null) return scriptedBlocks(w, idx, training);
        if (oneCall() && cache.rows() == 0 && cache.length == 0) return scriptedPrompt(w, idx, cache);
        return blocks(w, idx, w.wpe().get(past + ":" + (past + t)), null, training, cache);
    }

    /**
     * The final layer's states for rows that pack several sequences back to back ({@code [B, T]} token ids): each
     * token sees only the earlier tokens of its own sequence and takes its position from that sequence's start, so a
     * packed sequence gets exactly the states it would get alone. {@code seg} numbers, row after row, the sequence
     * each token belongs to.
     */
    public NDArray hiddenPacked(NDArray idx, long[] seg, boolean training) {
        long b = idx.getShape().get(0);
        long t = idx.getShape().get(1);
        if (t > config.blockSize()) throw new IllegalArgumentException("row " + t + " > block " + config.blockSize());
        if (seg.length != b * t) throw new IllegalArgumentException("one segment number per token");
        // a token's position is its index less the index where its sequence starts
        long[] positions = new long[seg.length];
        for (int r = 0; r < b; r++) {
            for (int j = 0, start = 0; j < t; j++) {
                if (j > 0 && seg[r * (int) t + j] != seg[r * (int) t + j - 1]) start = j;
                positions[r * (int) t + j] = j - start;
            }
        }
        NDManager scope = idx.getManager();
        Weights w = weights();
        NDArray segments = scope.create(seg, new Shape(b, t));
        // [B, 1, T, T]: same sequence, and not after the query
        NDArray same = segments.expandDims(2).eq(segments.expandDims(1));
        NDArray causal = causalMask.get("0:" + t + ", 0:" + t).eq(0f);
        NDArray allowed = same.logicalAnd(causal.expandDims(0)).expandDims(1);
        if (oneCall()) {
            List<NDArray> args = new ArrayList<>(List.of(idx, scope.create(positions, new Shape(b, t)), allowed));
            addWeights(args, w);
            return (training ? packedTraining : packedInference).forwardList(args).singletonOrThrow();
        }
        NDArray pos = w.wpe().get(scope.create(positions)).reshape(b, t, config.nEmbd());
        return blocks(w, idx, pos, allowed, training, null);
    }

    /**
     * One new token per row after a cache whose rows hold sequences of different lengths (requests decoded together):
     * each row takes the position that follows its own tokens, and attends to its own keys only, not to the padding
     * before them.
     */
    private NDArray hiddenRagged(Weights w, NDArray idx, KvCache cache) {
        long b = idx.getShape().get(0);
        if (idx.getShape().get(1) != 1 || b != cache.rows()) {
            throw new IllegalArgumentException("a cache of rows of different lengths takes one token per row, got " + idx.getShape());
        }
        NDManager scope = idx.getManager();
        NDArray pos = w.wpe().get(cache.nextPositions(scope, config.blockSize())).reshape(b, 1, config.nEmbd());
        return blocks(w, idx, pos, cache.paddingMask(scope), false, cache);
    }

    /**
     * One new token per row after the cache, through {@link #decodeStep}: the blocks below written as one TorchScript
     * method, so that a token costs one call into libtorch instead of some twenty per layer (generation's steps are
     * small enough for that to be most of their time). The logits of the new tokens {@code [B, vocab]}; the cache then
     * holds them too.
     */
    private NDArray decode(NDArray idx, KvCache cache) {
        long b = idx.getShape().get(0);
        if (b != cache.rows()) throw new IllegalArgumentException(b + " tokens for a cache of " + cache.rows() + " rows");
        NDManager scope = idx.getManager();
        Weights w = weights();
        List<NDArray> args = new ArrayList<>();
        args.add(idx);
        args.add(cache.nextPositions(scope, config.blockSize()).reshape(b, 1));
        args.add(cache.starts == null ? scope.create(new boolean[] {true}) : cache.paddingMask(scope)); // the unmasked method reads none
        addWeights(args, w);
        args.addAll(Arrays.asList(cache.keys));
        args.addAll(Arrays.asList(cache.values));
        NDList out = (cache.starts == null ? decodeStep : decodeStepMasked).infer(args, (PtNDManager) scope);
        int layers = config.nLayer();
        for (int layer = 0; layer < layers; layer++) {
            cache.replace(layer, out.get(1 + layer), out.get(1 + layers + layer));
        }
        cache.length += 1;
        return out.get(0);
    }

    /** wte, wpe, twelve arrays per block, ln_f's two: the weights in the order the TorchScript methods read them. */
    private static void addWeights(List<NDArray> args, Weights w) {
        args.add(w.wte());
        args.add(w.wpe());
        for (Block block : w.blocks()) {
            for (NDArray a : new NDArray[] {block.ln1().weight(), block.ln1().bias(), block.attn().weight(),
                    block.attn().bias(), block.attnProj().weight(), block.attnProj().bias(), block.ln2().weight(),
                    block.ln2().bias(), block.fc().weight(), block.fc().bias(), block.mlpProj().weight(),
                    block.mlpProj().bias()}) {
                args.add(a);
            }
        }
        args.add(w.lnF().weight());
        args.add(w.lnF().bias());
    }

    /**
     * {@link #blocks} for whole sequences with the fused kernels, as one call into libtorch ({@link #blocksMethod}):
     * a forward pass of {@code gpt2-124m} is some 300 operations, and through DJL each costs a JNI call and Java
     * objects, which on a GPU the device would wait for. Autograd records every operation inside as usual.
     */
    private NDArray scriptedBlocks(Weights w, NDArray idx, boolean training) {
        return (training ? blocksTraining : blocksInference).forwardList(blocksArguments(w, idx)).singletonOrThrow();
    }

    /**
     * {@link #scriptedBlocks} for a prompt into an empty cache, which then holds its keys and values. Like the decode
     * step it runs in inference mode: generation needs no gradient, and a policy that is being trained (its weights
     * requiring gradients) would otherwise record a graph through every cached key and value while it samples.
     */
    private NDArray scriptedPrompt(Weights w, NDArray idx, KvCache cache) {
        NDList out = blocksCaching.infer(blocksArguments(w, idx), (PtNDManager) idx.getManager());
        int layers = config.nLayer();
        for (int layer = 0; layer < layers; layer++) cache.append(layer, out.get(1 + layer), out.get(1 + layers + layer));
        cache.length += (int) idx.getShape().get(1);
        return out.get(0);
    }

    /** The blocks methods' one argument: idx, then {@link #addWeights}' order. */
    private static List<NDArray> blocksArguments(Weights w, NDArray idx) {
        List<NDArray> args = new ArrayList<>();
        args.add(idx);
        addWeights(args, w);
        return args;
    }

    /**
     * {@link #scriptedBlocks}' method: the arguments in one list ({@link #blocksArguments}), the same operations as
     * {@link #blocks} with the fused kernels and {@code dropout} where it drops (embedding, attention, both
     * projections); returns the final LayerNorm's states in a list of one, and with {@code caching} every layer's
     * keys, then values, after them. {@code packed}: {@link #hiddenPacked}'s rows, the list then idx, each token's
     * position {@code [B, T]}, the boolean mask {@code [B, 1, T, T]} of what it may attend to, then the weights.
     */
    private static TorchScriptModule blocksMethod(PtNDManager manager, GptConfig config, float dropout, boolean caching,
            boolean packed) {
        int layers = config.nLayer();
        String name = (packed ? "Packed" : "") + (caching ? "BlocksCaching" : dropout > 0 ? "BlocksTraining" : "Blocks");
        String p = TorchScriptModule.literal(dropout);
        java.util.function.UnaryOperator<String> drop = e -> dropout > 0 ? "torch.dropout(" + e + ", " + p + ", True)" : e;
        int base = packed ? 5 : 3; // the first block's first weight
        String embeddings = packed ? "torch.add(torch.embedding(a[3], idx), torch.embedding(a[4], a[1]))"
                : "torch.add(torch.embedding(a[1], idx), torch.narrow(a[2], 0, 0, t))";
        String src = "  def forward(self: __torch__." + name + ", a: List[Tensor]) -> List[Tensor]:\n"
                + "    idx = a[0]\n"
                + "    b = idx.size(0)\n"
                + "    t = idx.size(1)\n"
                + "    x = " + drop.apply(embeddings) + "\n"
                + "    keys = annotate(List[Tensor], [])\n"
                + "    values = annotate(List[Tensor], [])\n"
                + "    for l in range(" + layers + "):\n"
                + "      w = " + base + " + 12 * l\n"
                + blockSource(config, caching ? "      keys.append(k)\n      values.append(v)\n" : "",
                        (packed ? "a[2], " + p + ", False" : "None, " + p + ", True"), drop)
                + "    f = " + (base + 12 * layers) + "\n"
                + "    out = [torch.layer_norm(x, [" + config.nEmbd() + "], a[f], a[f + 1], 1e-05)]\n"
                + "    out.extend(keys)\n"
                + "    out.extend(values)\n"
                + "    return out\n";
        return TorchScriptModule.compile(manager, name, src);
    }

    /**
     * {@link #decode}'s method: the arguments in one list (idx {@code [B, 1]}, positions {@code [B, 1]}, the padding
     * mask, then {@link #addWeights}' order, every layer's cached keys, then values), the same blocks as
     * {@link #blocks} with the fused kernels; returns the logits, then every layer's keys, then values, new token
     * included.
     */
    private static TorchScriptModule decodeStep(PtNDManager manager, GptConfig config, boolean masked) {
        int layers = config.nLayer();
        String name = masked ? "DecodeStepMasked" : "DecodeStep";
        int cachedKeys = 5 + 12 * layers + 2;
        String src = "  def forward(self: __torch__." + name + ", a: List[Tensor]) -> List[Tensor]:\n"
                + "    idx = a[0]\n"
                + "    b = idx.size(0)\n"
                + "    t = 1\n"
                + "    mask = a[2]\n"
                + "    wte = a[3]\n"
                + "    x = torch.add(torch.embedding(wte, idx), torch.embedding(a[4], a[1]))\n"
                + "    keys = annotate(List[Tensor], [])\n"
                + "    values = annotate(List[Tensor], [])\n"
                + "    for l in range(" + layers + "):\n"
                + "      w = 5 + 12 * l\n"
                + blockSource(config, "      k = torch.cat([a[" + cachedKeys + " + l], k], 2)\n"
                        + "      v = torch.cat([a[" + (cachedKeys + layers) + " + l], v], 2)\n"
                        + "      keys.append(k)\n      values.append(v)\n",
                        (masked ? "mask" : "None") + ", 0., False", e -> e)
                + "    f = " + (5 + 12 * layers) + "\n"
                + "    x = torch.select(torch.layer_norm(x, [" + config.nEmbd() + "], a[f], a[f + 1], 1e-05), 1, 0)\n"
                + ROW_LOGITS
                + "    out = [logits]\n"
                + "    out.extend(keys)\n"
                + "    out.extend(values)\n"
                + "    return out\n";
        return TorchScriptModule.compile(manager, name, src);
    }

    /**
     * One block in the TorchScript methods, inside their loop over layers: {@code x [b, t, C]} in and out, the block's
     * weights at {@code a[w]} … {@code a[w + 11]} in {@link #addWeights}' order. {@code keysAndValues} runs after the
     * new positions' {@code k} and {@code v} are made (to extend or collect them), {@code attention} is
     * {@code scaled_dot_product_attention}'s mask, dropout and causal arguments, and {@code drop} wraps what dropout
     * applies to.
     */
    private static String blockSource(GptConfig config, String keysAndValues, String attention,
            java.util.function.UnaryOperator<String> drop) {
        int c = config.nEmbd();
        String heads = "[b, t, " + config.nHead() + ", " + config.headDim() + "]";
        return "      h = torch.layer_norm(x, [" + c + "], a[w], a[w + 1], 1e-05)\n"
                + "      qkv = torch.split(torch.linear(h, torch.t(a[w + 2]), a[w + 3]), " + c + ", 2)\n"
                + "      q = torch.transpose(torch.view(qkv[0], " + heads + "), 1, 2)\n"
                + "      k = torch.transpose(torch.view(qkv[1], " + heads + "), 1, 2)\n"
                + "      v = torch.transpose(torch.view(qkv[2], " + heads + "), 1, 2)\n"
                + keysAndValues
                + "      y = torch.scaled_dot_product_attention(q, k, v, " + attention + ")\n"
                + "      y = torch.reshape(torch.transpose(y, 1, 2), [b, t, " + c + "])\n"
                + "      x = torch.add(x, " + drop.apply("torch.linear(y, torch.t(a[w + 4]), a[w + 5])") + ")\n"
                + "      h = torch.layer_norm(x, [" + c + "], a[w + 6], a[w + 7], 1e-05)\n"
                + "      h = torch.gelu(torch.linear(h, torch.t(a[w + 8]), a[w + 9]), approximate=\"tanh\")\n"
                + "      x = torch.add(x, " + drop.apply("torch.linear(h, torch.t(a[w + 10]), a[w + 11])") + ")\n";
    }

    /** Token + position embeddings through every block and the final LayerNorm; {@code mask} null: causal. */
    private NDArray blocks(Weights w, NDArray idx, NDArray positionEmbedding, NDArray mask, boolean training,
            KvCache cache) {
        long b = idx.getShape().get(0);
        long t = idx.getShape().get(1);
        NDArray x = idx.getNDArrayInternal().embedding(idx, w.wte(), SparseFormat.DENSE).singletonOrThrow()
                .add(positionEmbedding);
        x = dropout(x, training);
        for (int i = 0; i < w.blocks().size(); i++) {
            Block block = w.blocks().get(i);
            x = x.add(attention(layerNorm(x, block.ln1()), block, b, t, mask, training, cache, i));
            x = x.add(mlp(layerNorm(x, block.ln2()), block, training));
        }
        if (cache != null) cache.length += (int) t;
        return layerNorm(x, w.lnF());
    }

    /**
     * Keys and values of every layer for the tokens seen so far, kept in its own manager between steps. Its rows may
     * hold sequences of different lengths (requests decoded together, see {@link DecodeBatch}): each row's tokens are
     * right-aligned at {@link #length()}, and the positions before {@link #length(int) its own tokens} are padding that nothing attends to.
     */
    public static final class KvCache implements AutoCloseable {
        private final NDManager manager;
        private final NDArray[] keys;
        private final NDArray[] values;
        private int length;
        /** Where each row's tokens begin; null while every row begins at 0. */
        private int[] starts;

        private KvCache(NDManager manager, int layers) {
            this.manager = manager;
            this.keys = new NDArray[layers];
            this.values = new NDArray[layers];
        }

        /** A layer's cached keys {@code [rows, heads, length, headDim]} (tests). */
        NDArray keys(int layer) {
            return keys[layer];
        }

        /** Positions held: the longest row's tokens. */
        public int length() {
            return length;
        }

        public int rows() {
            return keys[0] == null ? 0 : (int) keys[0].getShape().get(0);
        }

        /** Tokens held for {@code row}. */
        public int length(int row) {
            return length - (starts == null ? 0 : starts[row]);
        }

        /** Each row's position for its next token {@code [rows]}: the one after its own tokens. */
        private NDArray nextPositions(NDManager scope, int blockSize) {
            long[] positions = new long[rows()];
            for (int r = 0; r < positions.length; r++) {
                positions[r] = length(r);
                if (positions[r] >= blockSize) throw new IllegalArgumentException("row " + r + " is past the block");
            }
            return scope.create(positions);
        }

        /** {@code [rows, 1, 1, length + 1]}: the keys from each row's own start on, the next token's included. */
        private NDArray paddingMask(NDManager scope) {
            int[] from = starts != null ? starts : new int[rows()];
            return scope.arange(0, length + 1).reshape(1, length + 1).gte(scope.create(from).reshape(from.length, 1))
                    .reshape(from.length, 1, 1, length + 1);
        }

        /** Appends this step's keys and values of a layer and returns all of them. */
        private NDArray[] append(int layer, NDArray k, NDArray v) {
            NDArray allK = keys[layer] == null ? k : keys[layer].concat(k, 2);
            NDArray allV = values[layer] == null ? v : values[layer].concat(v, 2);
            allK.attach(manager); // owned by the cache from now on; this step still reads them
            allV.attach(manager);
            if (keys[layer] != null) {
                keys[layer].close();
                values[layer].close();
            }
            keys[layer] = allK;
            values[layer] = allV;
            return new NDArray[] {allK, allV};
        }

        /** A layer's keys and values, this step's included, made by a step that is still open. */
        private void replace(int layer, NDArray k, NDArray v) {
            k.attach(manager);
            v.attach(manager);
            keys[layer].close();
            values[layer].close();
            keys[layer] = k;
            values[layer] = v;
        }

        /**
         * Takes {@code other}'s rows in after this cache's own, the shorter side padded on the left so that every
         * row ends at the same position; {@code other} is closed.
         */
        public void join(KvCache other) {
            try (other; NDManager scratch = manager.newSubManager()) {
                if (other.rows() == 0) return;
                int rows = rows();
                int joined = Math.max(length, other.length);
                int[] startsOf = new int[rows + other.rows()];
                for (int r = 0; r < rows; r++) startsOf[r] = joined - length(r);
                for (int r = 0; r < other.rows(); r++) startsOf[rows + r] = joined - other.length(r);
                for (int layer = 0; layer < keys.length; layer++) {
                    keys[layer] = joinRows(scratch, keys[layer], other.keys[layer], joined - length, joined - other.length);
                    values[layer] = joinRows(scratch, values[layer], other.values[layer], joined - length, joined - other.length);
                }
                length = joined;
                starts = Arrays.stream(startsOf).allMatch(s -> s == 0) ? null : startsOf;
            }
        }

        /** {@code mine} and {@code theirs} one after the other along the rows, each padded on the left as given. */
        private NDArray joinRows(NDManager scratch, NDArray mine, NDArray theirs, int padMine, int padTheirs) {
            NDArray joined = mine == null ? theirs
                    : padLeft(scratch, mine, padMine).concat(padLeft(scratch, theirs, padTheirs), 0);
            joined.attach(manager); // what the scratch manager made for it is freed with it
            if (mine != null) mine.close();
            return joined;
        }

        private static NDArray padLeft(NDManager scratch, NDArray x, int n) {
            if (n == 0) return x;
            Shape s = x.getShape();
            return scratch.zeros(new Shape(s.get(0), s.get(1), n, s.get(3)), x.getDataType()).concat(x, 2);
        }

        /**
         * Keeps only {@code rows}, in that order; a row may be named more than once (one prompt's cache for several
         * answers). Padding that no kept row needs any more is dropped.
         */
        public void keep(int[] rows) {
            if (rows.length == 0) {
                for (int layer = 0; layer < keys.length; layer++) {
                    if (keys[layer] != null) {
                        keys[layer].close();
                        values[layer].close();
                    }
                    keys[layer] = null;
                    values[layer] = null;
                }
                length = 0;
                starts = null;
                return;
            }
            int[] kept = new int[rows.length];
            for (int i = 0; i < rows.length; i++) kept[i] = length - length(rows[i]);
            int trim = Arrays.stream(kept).min().getAsInt();
            long[] index = Arrays.stream(rows).asLongStream().toArray();
            try (NDManager scratch = manager.newSubManager()) {
                NDArray which = scratch.create(index);
                for (int layer = 0; layer < keys.length; layer++) {
                    keys[layer] = keepRows(scratch, keys[layer], which, trim);
                    values[layer] = keepRows(scratch, values[layer], which, trim);
                }
            }
            length -= trim;
            for (int i = 0; i < kept.length; i++) kept[i] -= trim;
            starts = Arrays.stream(kept).allMatch(s -> s == 0) ? null : kept;
        }

        private NDArray keepRows(NDManager scratch, NDArray all, NDArray which, int trim) {
            NDArray picked = all.get(which);
            picked.attach(scratch); // freed with it, unless it is what is kept
            NDArray kept = trim > 0 ? picked.get(":, :, " + trim + ":") : picked;
            kept.attach(manager);
            all.close();
            return kept;
        }

        @Override
        public void close() {
            manager.close();
        }
    }

    public KvCache newCache() {
        return new KvCache(manager.newSubManager(), config.nLayer());
    }

    private NDArray attention(NDArray x, Block block, long b, long t, NDArray mask, boolean training, KvCache cache,
            int layer) {
        int c = config.nEmbd();
        NDList qkv = block.attn().apply(x).split(3, 2);
        NDArray q = heads(qkv.get(0), b, t);
        NDArray k = heads(qkv.get(1), b, t);
        NDArray v = heads(qkv.get(2), b, t);
        int past = cache == null ? 0 : cache.length;
        if (cache != null) {
            NDArray[] kv = cache.append(layer, k, v);
            k = kv[0];
            v = kv[1];
        }
        NDArray y;
        if (mask != null) {
            y = fused ? (training ? maskedAttentionTraining : maskedAttentionInference).forward(q, k, v, mask)
                    : dropout(Scalars.times(q.matMul(k.transpose(0, 1, 3, 2)), (float) (1.0 / Math.sqrt(config.headDim())))
                            .add(maskedOut(mask).toType(q.getDataType(), false)).softmax(-1), training).matMul(v);
        } else if (fused && past == 0) {
            y = (training ? attentionTraining : attentionInference).forward(q, k, v);
        } else if (fused && t == 1 && !training) {
            // the newest position may look at every key: no mask
            y = decodeAttention.forward(q, k, v);
        } else {
            // new tokens after a cached prefix sit at positions past .. past+t and may look at every key up to their
            // own position: a mask the fused kernel's is_causal (aligned at the first key) does not express
            NDArray att = Scalars.times(q.matMul(k.transpose(0, 1, 3, 2)), (float) (1.0 / Math.sqrt(config.headDim())))
                    .add(causalMask.get(past + ":" + (past + t) + ", 0:" + (past + t)).toType(q.getDataType(), false))
                    .softmax(-1);
            y = dropout(att, training).matMul(v);
        }
        y = y.transpose(0, 2, 1, 3).reshape(b, t, c);
        return dropout(block.attnProj().apply(y), training);
    }

    /** The additive form of a boolean mask: 0 where allowed, -1e9 elsewhere — in fp32 (in fp16 it is -inf, never 0 · -inf). */
    private static NDArray maskedOut(NDArray allowed) {
        return Scalars.times(allowed.logicalNot().toType(DataType.FLOAT32, false), -1e9f);
    }

    /** {@code softmax(q·kᵀ/√d where mask, else -inf)·v}, a boolean mask per row ({@code [B, 1, T, T]}). */
    static TorchScriptModule maskedAttention(PtNDManager manager, float dropout) {
        return TorchScriptModule.compile(manager, "MaskedSelfAttention",
                "  def forward(self: __torch__.MaskedSelfAttention, q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:\n"
                + "    return torch.scaled_dot_product_attention(q, k, v, mask, " + TorchScriptModule.literal(dropout) + ", False)\n");
    }

    /**
     * {@code softmax(q·kᵀ/√d + causal mask)·v} by libtorch's {@code scaled_dot_product_attention}: FlashAttention or
     * memory-efficient attention on a GPU, a fused flash kernel on a CPU; neither writes the T × T scores to memory.
     */
    static TorchScriptModule causalAttention(PtNDManager manager, float dropout) {
        return TorchScriptModule.compile(manager, "CausalSelfAttention",
                "  def forward(self: __torch__.CausalSelfAttention, q: Tensor, k: Tensor, v: Tensor) -> Tensor:\n"
                + "    return torch.scaled_dot_product_attention(q, k, v, None, "
                + TorchScriptModule.literal(dropout) + ", True)\n");
    }

    /** {@code [B, T, C]} → {@code [B, heads, T, headDim]}. */
    private NDArray heads(NDArray x, long b, long t) {
        return x.reshape(b, t, config.nHead(), config.headDim()).transpose(0, 2, 1, 3);
    }

    private NDArray mlp(NDArray x, Block block, boolean training) {
        NDArray h = block.fc().apply(x);
        return dropout(block.mlpProj().apply(fused ? gelu.forward(h) : geluTanh(h)), training);
    }

    /**
     * GPT-2's GELU, the tanh approximation (Hugging Face's {@code gelu_new}), so exported logits match; written out,
     * as the fused kernel computes it.
     */
    static NDArray geluTanh(NDArray x) {
        NDArray inner = Scalars.times(Scalars.times(Scalars.power(x, 3), 0.044715f).add(x), (float) Math.sqrt(2 / Math.PI)).tanh();
        return Scalars.times(x, 0.5f).mul(inner.add(1f));
    }

    private NDArray layerNorm(NDArray x, Norm norm) {
        return x.getNDArrayInternal()
                .layerNorm(x, new Shape(config.nEmbd()), norm.weight(), norm.bias(), 1e-5f)
                .singletonOrThrow();
    }

    private NDArray dropout(NDArray x, boolean training) {
        if (!training || config.dropout() == 0f) return x;
        return x.getNDArrayInternal().dropout(x, config.dropout(), true).singletonOrThrow();
    }

    /** Mean cross-entropy of next-token {@code targets [B, T]} (int64) under {@code logits [B, T, V]}. */
    public static NDArray loss(NDArray logits, NDArray targets) {
        // low-precision logits: log_softmax computes (and differentiates) in fp32 — DJL's plain dtype cast would not
        NDArray logProbs = logits.getDataType() == DataType.FLOAT32 ? logits.logSoftmax(-1)
                : ai.djl.pytorch.jni.JniUtils.logSoftmax((ai.djl.pytorch.engine.PtNDArray) logits, -1, DataType.FLOAT32);
        return logProbs.gather(targets.expandDims(-1), -1).mean().neg();
    }

    /** The parameters, typed (a view of the named map the optimizer, save and export use). */
    private Weights weights() {
        return Weights.of(params, config.nLayer());
    }

    /** A linear layer: {@code x · weight + bias}, the weight {@code [in, out]} as in GPT-2's Conv1D. */
    record Linear(NDArray weight, NDArray bias) {
        /**
         * libtorch's {@code linear}: on a contiguous {@code [B, T, in]} input one {@code addmm}, the bias added in the
         * matrix product's epilogue, where {@code matMul} then {@code add} would write the output and read it back.
         */
        NDArray apply(NDArray x) {
            // the transposed view is the weight's manager's: closed here (autograd keeps its own reference)
            try (NDArray transposed = weight.transpose()) {
                return ai.djl.pytorch.jni.JniUtils.linear((ai.djl.pytorch.engine.PtNDArray) x,
                        (ai.djl.pytorch.engine.PtNDArray) transposed, (ai.djl.pytorch.engine.PtNDArray) bias);
            }
        }
    }

    /** A LayerNorm's scale and shift. */
    record Norm(NDArray weight, NDArray bias) {}

    /** One transformer block, nanoGPT's {@code Block}: {@code x + attn(ln_1(x))}, then {@code x + mlp(ln_2(x))}. */
    record Block(Norm ln1, Linear attn, Linear attnProj, Norm ln2, Linear fc, Linear mlpProj) {}

    /**
     * Every weight a forward pass reads, typed: the parameters, or their fp16 casts for one pass — passed explicitly,
     * so no pass can read another's weights.
     */
    record Weights(NDArray wte, NDArray wpe, List<Block> blocks, Norm lnF) {
        /** The typed view of weights named as in Hugging Face's GPT-2 ({@code h.0.attn.c_attn.weight}). */
        static Weights of(Map<String, NDArray> named, int layers) {
            List<Block> blocks = new ArrayList<>(layers);
            for (int i = 0; i < layers; i++) {
                String h = "h." + i + ".";
                blocks.add(new Block(norm(named, h + "ln_1"), linear(named, h + "attn.c_attn"),
                        linear(named, h + "attn.c_proj"), norm(named, h + "ln_2"), linear(named, h + "mlp.c_fc"),
                        linear(named, h + "mlp.c_proj")));
            }
            return new Weights(named.get("wte.weight"), named.get("wpe.weight"), blocks, norm(named, "ln_f"));
        }

        private static Linear linear(Map<String, NDArray> named, String name) {
            return new Linear(named.get(name + ".weight"), named.get(name + ".bias"));
        }

        private static Norm norm(Map<String, NDArray> named, String name) {
            return new Norm(named.get(name + ".weight"), named.get(name + ".bias"));
        }
    }

    private void normal(String name, float std, long... shape) {
        add(name, manager.randomNormal(0f, std, new Shape(shape), DataType.FLOAT32));
    }

    private void ones(String name, long... shape) {
        add(name, manager.ones(new Shape(shape)));
    }

    private void zeros(String name, long... shape) {
        add(name, manager.zeros(new Shape(shape)));
    }

    private void add(String name, NDArray array) {
        array.setName(name);
        params.put(name, array);
    }

    /** The parameters by name, in a fixed order. */
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    public long parameterCount() {
        return params.values().stream().mapToLong(a -> a.getShape().size()).sum();
    }

    /**
     * Training FLOPs per token, as in the PaLM paper's appendix and nanoGPT: 6 per parameter (forward and backward),
     * position embeddings excluded, plus the attention scores, {@code 12 · layers · width · context}.
     */
    public double flopsPerToken() {
        long n = parameterCount() - params.get("wpe.weight").getShape().size();
        return 6.0 * n + 12.0 * config.nLayer() * config.nEmbd() * config.blockSize();
    }

    public GptConfig config() {
        return config;
    }

    /** Makes the parameters trainable (gradients are recorded for them inside a gradient collector). */
    public void requireGradients() {
        params.values().forEach(p -> p.setRequiresGradient(true));
    }

    /** Lends parameters and mask to {@code step}: what is computed from them is then freed when it closes. */
    public void attachTo(NDManager step) {
        params.values().forEach(p -> p.tempAttach(step));
        causalMask.tempAttach(step);
    }

    public NDManager manager() {
        return manager;
    }

    /**
     * Whether attention over a whole sequence and GELU run as libtorch's fused kernels (the default; see also
     * {@link #useScriptedBlocks}) or through DJL written out in elementary ops — the same functions;
     * {@code bench train --kernels explicit} compares them, and the tests check one against the other.
     */
    public void useFusedKernels(boolean fused) {
        this.fused = fused;
    }

    /**
     * With the fused kernels: whether whole sequences, packed rows, prompts and decode steps run as one TorchScript
     * call each (the default), or through DJL, an operation a call ({@code bench train --kernels djl} compares them).
     */
    public void useScriptedBlocks(boolean scripted) {
        this.scripted = scripted;
    }

    /** Whether the passes run as the TorchScript methods: fused kernels, one call each. */
    private boolean oneCall() {
        return fused && scripted;
    }

    @Override
    public void close() {
        attentionTraining.close();
        if (attentionInference != attentionTraining) attentionInference.close();
        blocksTraining.close();
        if (blocksInference != blocksTraining) blocksInference.close();
        blocksCaching.close();
        packedTraining.close();
        if (packedInference != packedTraining) packedInference.close();
        maskedAttentionTraining.close();
        if (maskedAttentionInference != maskedAttentionTraining) maskedAttentionInference.close();
        decodeAttention.close();
        decodeStepMasked.close();
        decodeStep.close();
        gelu.close();
        rowLogits.close();
        toFp16.close();
        toBf16.close();
        manager.close();
    }
}
