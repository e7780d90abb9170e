package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A causal language model of any {@link Architecture}: its parameters, and the passes training, evaluation and
 * generation run — whole sequences, rows packing several sequences, a prompt into a key/value cache, a decode step.
 * The network is the architecture's {@link Architecture#trunk}, written once: the passes that run most (whole
 * sequences, packed rows, a prompt, a decode step) run it as TorchScript methods, one call into libtorch each
 * ({@link ScriptTensors}); the others, and every pass with {@link #useScriptedBlocks} off, run it an operation a DJL
 * call ({@link EagerTensors}).
 *
 * <p>Parameters carry the architecture's Hugging Face names. They live in this model's own manager; callers run each
 * step in a sub-manager and {@link #attachTo} it, so that nothing a step creates outlives it.
 */
public final class LanguageModel implements AutoCloseable {
    private final ModelConfig config;
    private final Architecture architecture;
    private final NDManager manager;
    private final Map<String, NDArray> params = new LinkedHashMap<>();
    /** The architecture's constants (the rotary frequencies), fp32 whatever the pass's precision. */
    private final Map<String, NDArray> buffers = new LinkedHashMap<>();
    private final EagerTensors.Kernels kernels;
    /** Whole sequences: with the config's dropout, and without. */
    private final TorchScriptModule wholeTraining;
    private final TorchScriptModule wholeInference;
    /** Rows packing several sequences (a position and a mask per token): with the config's dropout, and without. */
    private final TorchScriptModule packedTraining;
    private final TorchScriptModule packedInference;
    /** A prompt into an empty cache: the states, then every layer's keys, then values. */
    private final TorchScriptModule prompt;
    /** One new token per row after a cache: with a padding mask (rows of different lengths), and without. */
    private final TorchScriptModule decodeMasked;
    private final TorchScriptModule decode;
    /** {@link #ROW_LOGITS} as a method of its own (no autograd), for prompts projected outside the decode step. */
    private final TorchScriptModule rowLogits;
    /** {@code dst.copy_(src)}: a loaded tensor into its parameter's own memory. */
    private final TorchScriptModule assign;
    /** The parameters cast to fp16 and to bf16 inside autograd (mixed precision). */
    private final TorchScriptModule toFp16;
    private final TorchScriptModule toBf16;
    private boolean fused = true;
    private boolean scripted = true;

    private LanguageModel(ModelConfig config, NDManager parent) {
        this.config = config;
        this.architecture = config.architecture();
        this.manager = parent.newSubManager();
        PtNDManager m = (PtNDManager) manager;
        float dropout = config.dropout();
        this.kernels = new EagerTensors.Kernels(m, dropout);
        this.wholeInference = method(m, "Whole", ScriptTensors.Pass.WHOLE, false, 0f);
        this.wholeTraining = dropout == 0f ? wholeInference : method(m, "WholeTraining", ScriptTensors.Pass.WHOLE, false, dropout);
        this.packedInference = method(m, "Packed", ScriptTensors.Pass.PACKED, false, 0f);
        this.packedTraining = dropout == 0f ? packedInference
                : method(m, "PackedTraining", ScriptTensors.Pass.PACKED, false, dropout);
        this.prompt = method(m, "Prompt", ScriptTensors.Pass.PROMPT, false, 0f);
        this.decodeMasked = method(m, "DecodeMasked", ScriptTensors.Pass.DECODE, true, 0f);
        this.decode = method(m, "Decode", ScriptTensors.Pass.DECODE, false, 0f);
        this.rowLogits = TorchScriptModule.compile(m, "RowLogits",
                "  def forward(self: __torch__.RowLogits, x: Tensor, wte: Tensor) -> Tensor:\n"
                + "    b = x.size(0)\n"
                + ROW_LOGITS
                + "    return logits\n");
        this.assign = TorchScriptModule.compile(m, "Assign",
                "  def forward(self: __torch__.Assign, dst: Tensor, src: Tensor) -> Tensor:\n"
                + "    return dst.copy_(src)\n");
        this.toFp16 = TorchScriptModule.compile(m, "ToFp16",
                "  def forward(self: __torch__.ToFp16, w: List[Tensor]) -> List[Tensor]:\n"
                + "    return [t.half() for t in w]\n");
        this.toBf16 = TorchScriptModule.compile(m, "ToBf16",
                "  def forward(self: __torch__.ToBf16, w: List[Tensor]) -> List[Tensor]:\n"
                + "    return [torch.to(t, 15) for t in w]\n"); // 15: ScalarType BFloat16 (serialized code has no dtype names)
        List<String> names = architecture.buffers();
        List<float[]> values = architecture.bufferValues();
        for (int i = 0; i < names.size(); i++) buffers.put(names.get(i), manager.create(values.get(i)));
    }

    private TorchScriptModule method(PtNDManager m, String name, ScriptTensors.Pass pass, boolean masked, float dropout) {
        return TorchScriptModule.compile(m, name, ScriptTensors.method(architecture, name, pass, masked, dropout, ROW_LOGITS));
    }

    /** A freshly initialised model: each parameter as its architecture initialises it, from the engine's generator. */
    public static LanguageModel initialize(ModelConfig config, NDManager parent) {
        return allocate(config, parent, true);
    }

    /** The model's parameters, initialised as the architecture says ({@code random}), or zeros to be loaded into. */
    private static LanguageModel allocate(ModelConfig config, NDManager parent, boolean random) {
        LanguageModel model = new LanguageModel(config, parent);
        for (Architecture.Parameter p : model.architecture.parameters()) {
            Shape shape = new Shape(p.shape());
            NDArray a = !random ? model.manager.zeros(shape) : switch (p.init()) {
                case NORMAL -> model.manager.randomNormal(0f, p.std(), shape, DataType.FLOAT32);
                case ONES -> model.manager.ones(shape);
                case ZEROS -> model.manager.zeros(shape);
            };
            a.setName(p.name());
            model.params.put(p.name(), a);
        }
        return model;
    }

    /** Loads weights written by {@link #save}; names and shapes are checked against the config. */
    public static LanguageModel load(ModelConfig config, NDManager parent, Path safetensors) throws IOException {
        return load(config, parent, Safetensors.read(safetensors), name -> name, safetensors.toString());
    }

    /**
     * A model of {@code config} whose parameters are {@code tensors}, each under the name {@code rename} gives it
     * (null: a tensor to skip, such as a tied copy or a non-persistent buffer). Every parameter must be there, with its
     * shape, and nothing else; {@code source} names where they came from in errors.
     */
    public static LanguageModel load(ModelConfig config, NDManager parent, Map<String, Safetensors.Tensor> tensors,
            Function<String, String> rename, String source) throws IOException {
        LanguageModel model = allocate(config, parent, false);
        try {
            java.util.Set<String> loaded = new java.util.HashSet<>();
            java.nio.ByteBuffer scratch = null;
            for (Safetensors.Tensor t : tensors.values()) {
                String name = rename.apply(t.name());
                if (name == null) continue;
                NDArray target = model.params.get(name);
                if (target == null) throw new IOException(t.file() + ": unexpected tensor " + t.name() + " (the config has no such parameter)");
                if (!target.getShape().equals(new Shape(t.shape()))) {
                    throw new IOException(t.file() + ": " + t.name() + " has shape " + new Shape(t.shape())
                            + ", the config wants " + target.getShape());
                }
                // copied into the parameter's own memory (DJL's set would make the buffer the parameter's storage: a
                // second copy of the model until a collection frees the first); one scratch buffer for the conversions
                java.nio.ByteBuffer values = t.toFloat32(scratch);
                if (values.isDirect() && !(values instanceof java.nio.MappedByteBuffer)) scratch = values;
                try (NDArray read = model.manager.create(values, target.getShape(), DataType.FLOAT32);
                        IValue dst = IValue.from((PtNDArray) target); IValue src = IValue.from((PtNDArray) read)) {
                    model.assign.call("forward", dst, src).close();
                }
                loaded.add(name);
            }
            if (loaded.size() != model.params.size()) {
                List<String> missing = model.params.keySet().stream().filter(n -> !loaded.contains(n)).limit(5).toList();
                throw new IOException(source + ": " + (model.params.size() - loaded.size()) + " parameters missing, such as " + missing);
            }
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
        return model;
    }

    /**
     * A copy of this model with a vocabulary of {@code vocabSize} (at least the current): the token embedding and the
     * output projection gain rows for the new tokens (the chat markers, say), each the mean of the existing rows, so
     * that a new token starts as an average token rather than a random one; every other weight is copied. The copy
     * lives in {@code parent}.
     */
    public LanguageModel withVocabulary(int vocabSize, NDManager parent) {
        int old = config.vocabSize();
        if (vocabSize < old) throw new IllegalArgumentException("a vocabulary only grows: " + old + " -> " + vocabSize);
        LanguageModel out = initialize(config.withVocabulary(vocabSize), parent);
        java.util.Set<String> rows = new java.util.HashSet<>(List.of(architecture.tokenEmbedding(), architecture.outputWeight()));
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray source = e.getValue();
            if (rows.contains(e.getKey()) && vocabSize > old) {
                try (NDManager scratch = manager.newSubManager()) {
                    source.tempAttach(scratch); // what is computed from it goes with the scratch scope
                    NDArray mean = source.mean(new int[] {0}, true).repeat(0, vocabSize - old);
                    out.params.get(e.getKey()).set(source.concat(mean, 0).toFloatArray());
                }
            } else {
                out.params.get(e.getKey()).set(source.toFloatArray());
            }
        }
        return out;
    }

    /** Writes every parameter, by name, as safetensors. */
    public void save(OutputStream out) throws IOException {
        Safetensors.write(out, params);
    }

    /** Logits {@code [B, T, vocab]} for token ids {@code idx [B, T]} (int64). */
    public NDArray forward(NDArray idx, boolean training) {
        return logits(params, hidden(params, idx, training, null));
    }

    /**
     * Logits {@code [B, vocab]} of the last position only, the cache then holding {@code idx} too: what generation
     * needs. A prompt of {@code n} tokens costs one projection onto the vocabulary instead of {@code n}. Computed
     * without autograd (inference tensors, the cache's too), and for up to {@link #WEIGHT_LEFT_ROWS} rows a transposed
     * view, not contiguous ({@link #ROW_LOGITS}).
     */
    public NDArray forwardLast(NDArray idx, KvCache cache) {
        if (oneCall() && cache != null && cache.rows() > 0 && idx.getShape().get(1) == 1) return decode(idx, cache);
        NDArray hidden = hidden(params, idx, false, cache);
        // IValues, not NDArrays: DJL passes an array named with a dot ("wte.weight") as a dict
        try (IValue x = IValue.from((PtNDArray) hidden.get(":, -1, :")); IValue w = IValue.from((PtNDArray) outputWeight());
                IValue out = rowLogits.call("forward", x, w)) {
            return out.toTensor((PtNDManager) idx.getManager());
        }
    }

    /**
     * Low-precision logits ({@code FLOAT16} or {@code BFLOAT16}): the pass runs on casts of the fp32 parameters, made in
     * one call inside autograd, so the gradients come back through the casts into the fp32 parameters' own gradients,
     * in fp32. Unlike PyTorch's autocast, which keeps normalisation and the residual stream in fp32, everything but the
     * loss (and RMSNorm's statistics, as Hugging Face computes them) runs in the low precision here. {@link #loss} takes
     * the softmax of such logits in fp32. (DJL's own dtype cast runs without autograd, hence the TorchScript one.)
     */
    public NDArray forwardMixed(NDArray idx, boolean training, DataType low) {
        Map<String, NDArray> w = castWeights(low);
        return logits(w, hidden(w, idx, training, null));
    }

    /** The parameters cast to {@code low} inside autograd ({@link #forwardMixed}), by name. */
    private Map<String, NDArray> castWeights(DataType low) {
        TorchScriptModule cast = switch (low) {
            case FLOAT16 -> toFp16;
            case BFLOAT16 -> toBf16;
            default -> throw new IllegalArgumentException("mixed precision is fp16 or bf16, not " + low);
        };
        NDList casts = cast.forwardList(new ArrayList<>(params.values()));
        Map<String, NDArray> named = new LinkedHashMap<>();
        int i = 0;
        for (String name : params.keySet()) named.put(name, casts.get(i++));
        return named;
    }

    /**
     * A pass up to the output projection, for a caller that projects (and differentiates the projection) itself: the
     * final states and the weight of that same pass that projects them, both in {@code precision} and in the autograd
     * graph (in fp16 or bf16, casts of the fp32 parameters, as in {@link #forwardMixed}).
     */
    public record Trunk(NDArray hidden, NDArray outputWeight) {}

    /** {@link Trunk} of {@code idx} in {@code precision}: FLOAT32, or FLOAT16 or BFLOAT16. */
    public Trunk trunk(NDArray idx, boolean training, DataType precision) {
        Map<String, NDArray> w = precision == DataType.FLOAT32 ? params : castWeights(precision);
        return new Trunk(hidden(w, idx, training, null), w.get(architecture.outputWeight()));
    }

    /**
     * The final layer's normalised states {@code [B, T, C]}, before the output projection: a caller that scores only
     * some positions projects just those ({@link #logits}) — the projection onto the vocabulary is most of a small
     * model's work.
     */
    public NDArray hidden(NDArray idx, boolean training) {
        return hidden(params, idx, training, null);
    }

    /** The output projection's weight {@code [vocab, C]} (the token embedding, where they are tied). */
    public NDArray outputWeight() {
        return params.get(architecture.outputWeight());
    }

    /** Logits for final-layer states {@code [..., C]}. */
    public NDArray logits(NDArray hidden) {
        return logits(params, hidden);
    }

    private NDArray logits(Map<String, NDArray> w, NDArray hidden) {
        return hidden.matMul(w.get(architecture.outputWeight()).transpose());
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
     * {@code x} and {@code wte} (the output weight) in scope; assigns {@code logits [b, vocab]}: up to
     * {@link #WEIGHT_LEFT_ROWS} rows a transposed view of the product, not copied out (the copy of {@code [vocab, 8]}
     * cost 0.2–0.3 ms a step, some 7% of one at batch 8; a greedy argmax reads the view as fast, and a sampler's copy
     * to Java makes it contiguous anyway). Generation's projection, in the decode step and (as {@link #rowLogits})
     * after a prompt; training keeps {@code x · wteᵀ}: its loss reads the logits row by row.
     */
    private static final String ROW_LOGITS =
            "    if b > " + WEIGHT_LEFT_ROWS + ":\n"
            + "      logits = torch.matmul(x, torch.t(wte))\n"
            + "    elif b == 1:\n"
            + "      logits = torch.narrow(torch.t(torch.matmul(wte, torch.t(torch.cat([x, x])))), 0, 0, 1)\n"
            + "    else:\n"
            + "      logits = torch.t(torch.matmul(wte, torch.t(x)))\n";

    private NDArray hidden(Map<String, NDArray> w, NDArray idx, boolean training, KvCache cache) {
        long t = idx.getShape().get(1);
        if (cache != null && cache.ragged()) return hiddenRagged(w, idx, cache);
        int past = cache == null ? 0 : cache.length();
        if (past + t > config.contextLength()) {
            throw new IllegalArgumentException("sequence " + (past + t) + " > context " + config.contextLength());
        }
        if (oneCall() && cache == null) {
            return (training ? wholeTraining : wholeInference).forwardList(arguments(w, idx)).singletonOrThrow();
        }
        if (oneCall() && cache.rows() == 0 && cache.length() == 0) return scriptedPrompt(w, idx, cache);
        NDArray positions = idx.getManager().arange(past, past + t, 1, DataType.INT64).reshape(1, t);
        return eager(w, idx, positions, null, training, cache);
    }

    /** The trunk an operation a DJL call ({@link EagerTensors}); the cache, if any, then holds the new positions. */
    private NDArray eager(Map<String, NDArray> w, NDArray idx, NDArray positions, NDArray mask, boolean training,
            KvCache cache) {
        NDArray states = architecture.trunk(new EagerTensors(architecture, w, buffers, kernels, fused, training, mask, cache),
                idx, positions);
        if (cache != null) cache.advance((int) idx.getShape().get(1));
        return states;
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
        if (t > config.contextLength()) throw new IllegalArgumentException("row " + t + " > context " + config.contextLength());
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
        NDArray segments = scope.create(seg, new Shape(b, t));
        // [B, 1, T, T]: same sequence, and not after the query
        NDArray same = segments.expandDims(2).eq(segments.expandDims(1));
        NDArray notAfter = scope.arange(0, t, 1, DataType.INT64).reshape(1, t).lte(scope.arange(0, t, 1, DataType.INT64).reshape(t, 1));
        NDArray allowed = same.logicalAnd(notAfter.expandDims(0)).expandDims(1);
        NDArray at = scope.create(positions, new Shape(b, t));
        if (oneCall()) {
            List<NDArray> args = new ArrayList<>(List.of(idx, at, allowed));
            addWeights(args, params);
            return (training ? packedTraining : packedInference).forwardList(args).singletonOrThrow();
        }
        return eager(params, idx, at, allowed, training, null);
    }

    /**
     * One new token per row after a cache whose rows hold sequences of different lengths (requests decoded together):
     * each row takes the position that follows its own tokens, and attends to its own keys only, not to the padding
     * before them.
     */
    private NDArray hiddenRagged(Map<String, NDArray> w, NDArray idx, KvCache cache) {
        long b = idx.getShape().get(0);
        if (idx.getShape().get(1) != 1 || b != cache.rows()) {
            throw new IllegalArgumentException("a cache of rows of different lengths takes one token per row, got " + idx.getShape());
        }
        NDManager scope = idx.getManager();
        NDArray positions = cache.nextPositions(scope, config.contextLength()).reshape(b, 1);
        return eager(w, idx, positions, cache.paddingMask(scope), false, cache);
    }

    /**
     * One new token per row after the cache, through {@link #decode}'s method: the whole trunk and the projection in one
     * call into libtorch instead of some twenty per layer (generation's steps are small enough for that to be most of
     * their time). The logits of the new tokens {@code [B, vocab]}; the cache then holds them too. Like the prompt it
     * runs in inference mode: generation needs no gradient, and a policy that is being trained (its weights requiring
     * gradients) would otherwise record a graph through every cached key and value while it samples.
     */
    private NDArray decode(NDArray idx, KvCache cache) {
        long b = idx.getShape().get(0);
        if (b != cache.rows()) throw new IllegalArgumentException(b + " tokens for a cache of " + cache.rows() + " rows");
        NDManager scope = idx.getManager();
        List<NDArray> args = new ArrayList<>();
        args.add(idx);
        args.add(cache.nextPositions(scope, config.contextLength()).reshape(b, 1));
        args.add(cache.ragged() ? cache.paddingMask(scope) : scope.create(new boolean[] {true})); // the unmasked method reads none
        addWeights(args, params);
        cache.addTo(args);
        NDList out = (cache.ragged() ? decodeMasked : decode).infer(args, (PtNDManager) scope);
        int layers = config.layers();
        for (int layer = 0; layer < layers; layer++) cache.replace(layer, out.get(1 + layer), out.get(1 + layers + layer));
        cache.advance(1);
        return out.get(0);
    }

    /** A prompt into an empty cache, in one call and in inference mode ({@link #decode}'s reasons); the cache then holds it. */
    private NDArray scriptedPrompt(Map<String, NDArray> w, NDArray idx, KvCache cache) {
        NDList out = prompt.infer(arguments(w, idx), (PtNDManager) idx.getManager());
        int layers = config.layers();
        for (int layer = 0; layer < layers; layer++) cache.append(layer, out.get(1 + layer), out.get(1 + layers + layer));
        cache.advance((int) idx.getShape().get(1));
        return out.get(0);
    }

    /** A whole-sequence method's arguments: idx, then the buffers and weights ({@link #addWeights}). */
    private List<NDArray> arguments(Map<String, NDArray> w, NDArray idx) {
        List<NDArray> args = new ArrayList<>();
        args.add(idx);
        addWeights(args, w);
        return args;
    }

    /** The buffers, then every weight in the model's order: what the TorchScript methods read after their inputs. */
    private void addWeights(List<NDArray> args, Map<String, NDArray> w) {
        args.addAll(buffers.values());
        args.addAll(w.values());
    }

    public KvCache newCache() {
        return new KvCache(manager.newSubManager(), config.layers());
    }

    /** Mean cross-entropy of next-token {@code targets [B, T]} (int64) under {@code logits [B, T, V]}. */
    public static NDArray loss(NDArray logits, NDArray targets) {
        // low-precision logits: log_softmax computes (and differentiates) in fp32 — DJL's plain dtype cast would not
        NDArray logProbs = logits.getDataType() == DataType.FLOAT32 ? logits.logSoftmax(-1)
                : ai.djl.pytorch.jni.JniUtils.logSoftmax((PtNDArray) logits, -1, DataType.FLOAT32);
        return logProbs.gather(targets.expandDims(-1), -1).mean().neg();
    }

    /** The parameters by name, in a fixed order. */
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    /** The parameters a token looks up (embeddings; a tied output projection is one): they do not decay. */
    public java.util.Set<String> embeddings() {
        java.util.Set<String> names = new java.util.HashSet<>();
        architecture.embedding().forEach(p -> names.add(p.name()));
        return names;
    }

    public long parameterCount() {
        return params.values().stream().mapToLong(a -> a.getShape().size()).sum();
    }

    /**
     * Training FLOPs per token, as in the PaLM paper's appendix and nanoGPT: 6 per parameter that multiplies (forward
     * and backward; looked-up embeddings excluded), plus the attention scores,
     * {@code 12 · layers · attention width · context}.
     */
    public double flopsPerToken() {
        long looked = architecture.lookupOnly().stream().mapToLong(n -> params.get(n).getShape().size()).sum();
        return 6.0 * (parameterCount() - looked)
                + 12.0 * config.layers() * architecture.attentionWidth() * config.contextLength();
    }

    public ModelConfig config() {
        return config;
    }

    /** Makes the parameters trainable (gradients are recorded for them inside a gradient collector). */
    public void requireGradients() {
        params.values().forEach(p -> p.setRequiresGradient(true));
    }

    /** Lends parameters and buffers to {@code step}: what is computed from them is then freed when it closes. */
    public void attachTo(NDManager step) {
        params.values().forEach(p -> p.tempAttach(step));
        buffers.values().forEach(b -> b.tempAttach(step));
    }

    public NDManager manager() {
        return manager;
    }

    /**
     * Whether attention, GELU and SiLU run as libtorch's fused kernels (the default; see also
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
        kernels.close();
        wholeInference.close();
        if (wholeTraining != wholeInference) wholeTraining.close();
        packedInference.close();
        if (packedTraining != packedInference) packedTraining.close();
        prompt.close();
        decodeMasked.close();
        decode.close();
        rowLogits.close();
        assign.close();
        toFp16.close();
        toBf16.close();
        manager.close();
    }
}
