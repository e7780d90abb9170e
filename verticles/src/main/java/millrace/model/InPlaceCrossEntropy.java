package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;

/**
 * The next-token cross-entropy and its gradient in one pass over the logits, the gradient written over them (Liger
 * Kernel's cross-entropy). Through autograd, {@code log_softmax} writes a second {@code [rows, vocab]} array, keeps it
 * for backward, and backward writes a third (and the fp32 copy of low-precision logits a fourth); at 8 × 64 tokens
 * and GPT-2's 50,257 tokens each is 103 MB in fp32. Here a chunk of rows at a time, small enough to stay in the CPU's
 * cache, is read once, its loss summed and its gradient {@code (softmax − onehot(target)) · scale} written back in the
 * logits' own dtype (the softmax in fp32 whatever it is). {@link #lossSumAndGradient} does this to logits of the
 * caller's, which then runs backward from them with themselves as the gradient (a matrix product's backward reads only
 * its gradient, never its output); {@link #projectLossAndGradient}, the trainer's, makes the logits itself, in a buffer
 * it keeps, and returns the states' gradient.
 *
 * <p>Each is one TorchScript call with no host sync (the trainer's then a second one for the weight's gradient), so
 * on a GPU it queues like any other op; there the chunks are large (the cache argument is moot, the launches are
 * not). An instance keeps state (the buffer) and serves one caller: each {@link #projectLossAndGradient} is followed
 * by its {@link #addWeightGradient} with the same states before the next projection. The buffer is held for the
 * kernel's life: 103 MB at 8 × 64 in fp32, 1.6 GB for {@code gpt2-124m} at 16 × 1,024 in bf16 on a GPU.
 */
public final class InPlaceCrossEntropy implements AutoCloseable {
    private final TorchScriptModule kernel;
    /** Where {@link #projectLossAndGradient} keeps the logits between calls (and its buffer's manager). */
    private final NDManager manager;
    private NDArray buffer;

    /** A kernel for logits of {@code vocab} columns on {@code manager}'s device, which also holds its buffer. */
    public InPlaceCrossEntropy(PtNDManager manager, long vocab) {
        this(manager, compile(manager, chunkRows(manager, vocab)));
    }

    private InPlaceCrossEntropy(PtNDManager manager, TorchScriptModule kernel) {
        this.manager = manager;
        this.kernel = kernel;
    }

    /** A kernel that takes {@code chunkRows} rows at a time (tests: chunks that do and do not divide the rows). */
    static InPlaceCrossEntropy inChunksOf(PtNDManager manager, long chunkRows) {
        return new InPlaceCrossEntropy(manager, compile(manager, chunkRows));
    }

    private static TorchScriptModule compile(PtNDManager manager, long chunkRows) {
        return TorchScriptModule.compile(manager, "InPlaceCrossEntropy", source(chunkRows));
    }

    /**
     * Rows per chunk: on a CPU about 2 MB of fp32 (10 rows of 50,257; in a prototype here 8 rows ran 3–10% faster
     * than 16 to 512 in fp32 and bf16), so that the chunk's several passes hit the cache; on a GPU a few large
     * launches, up to 1 GiB of fp32.
     */
    static long chunkRows(PtNDManager manager, long vocab) {
        long bytes = manager.getDevice().isGpu() ? 1L << 30 : 2L << 20;
        return Math.max(1, bytes / (4 * vocab));
    }

    private static String source(long chunkRows) {
        return "  def forward(self: __torch__.InPlaceCrossEntropy, logits: Tensor, targets: Tensor, scale: float) -> Tensor:\n"
                + "    n = logits.size(0)\n"
                + "    losses = annotate(List[Tensor], [])\n"
                + "    for start in range(0, n, " + chunkRows + "):\n"
                + "      rows = min(" + chunkRows + ", n - start)\n"
                + "      x = torch.narrow(logits, 0, start, rows)\n"
                + "      t = torch.unsqueeze(torch.narrow(targets, 0, start, rows), 1)\n"
                + "      picked = torch.gather(x, 1, t).float()\n"
                + "      m = torch.amax(x, [1], True).float()\n"
                // fp32 logits: float() is x itself, so the softmax is computed in place; lower precision: an fp32 copy
                + "      e = torch.exp_(torch.sub_(x.float(), m))\n"
                + "      s = torch.sum(e, [1], True)\n"
                + "      losses.append(torch.squeeze(torch.sub(torch.add(m, torch.log(s)), picked), 1))\n"
                + "      e = torch.mul_(e, torch.mul(torch.reciprocal(s), scale))\n"
                + "      e = torch.scatter_add_(e, 1, t, torch.full_like(picked, -scale))\n"
                + "      if e.dtype != x.dtype:\n"
                + "        x.copy_(e)\n"
                + "    return torch.sum(torch.cat(losses))\n"
                // the projection into the first rows of the buffer, the loss and its gradient over them, then the
                // states' gradient; the weight's is added after backward (add_weight_gradient)
                // (the buffer is made here, when it has too few rows or another dtype or device: DJL 0.36 has no
                // bf16 to make it with)
                + "  def project(self: __torch__.InPlaceCrossEntropy, h: Tensor, w: Tensor, buffer: Tensor, targets: Tensor, scale: float) -> List[Tensor]:\n"
                + "    if buffer.size(0) < h.size(0) or buffer.size(1) != w.size(0) or buffer.dtype != h.dtype or buffer.device != h.device:\n"
                + "      buffer = torch.empty([h.size(0), w.size(0)], dtype=h.dtype, device=h.device)\n"
                + "    logits = torch.narrow(buffer, 0, 0, h.size(0))\n"
                + "    logits = torch.mm(h, torch.t(w), out=logits)\n"
                + "    loss = self.forward(logits, targets, scale)\n"
                + "    return [loss, torch.mm(logits, w), buffer]\n"
                + "  def add_weight_gradient(self: __torch__.InPlaceCrossEntropy, grad: Tensor, buffer: Tensor, h: Tensor) -> Tensor:\n"
                + "    logits = torch.narrow(buffer, 0, 0, h.size(0))\n"
                + "    if grad.dtype == logits.dtype:\n"
                + "      return torch.addmm_(grad, torch.t(logits), h)\n"
                + "    return torch.add_(grad, torch.mm(torch.t(logits), h))\n";
    }

    /**
     * Overwrites {@code logits [rows, vocab]} with the gradient of {@code scale · Σ loss} and returns that sum
     * {@code Σ −log softmax(logits)[target]} (unscaled, fp32, on the device: reading it is the caller's sync).
     *
     * @param targets next-token ids {@code [rows]} (int64)
     */
    public NDArray lossSumAndGradient(NDArray logits, NDArray targets, float scale) {
        try (IValue l = IValue.from((PtNDArray) logits); IValue t = IValue.from((PtNDArray) targets);
                IValue s = IValue.from((double) scale); IValue out = kernel.call("forward", l, t, s)) {
            return out.toTensor((PtNDManager) logits.getManager());
        }
    }

    /**
     * What {@link #projectLossAndGradient} made: the loss sum (as {@link #lossSumAndGradient}'s) and the gradient of
     * the states {@code [rows, C]}, for backward from them.
     */
    public record Projected(NDArray lossSum, NDArray stateGradient) {}

    /**
     * The output projection, the loss and the gradients of both, with the projection outside autograd: the logits
     * {@code hidden · weightᵀ} are written into a buffer this kernel keeps from call to call (made on first use, made
     * again for more rows or another dtype or device), overwritten there with their gradient as by
     * {@link #lossSumAndGradient}, and multiplied back into the states' gradient {@code logits' · weight}. The caller
     * runs backward from {@code hidden} with that gradient, then calls {@link #addWeightGradient}.
     *
     * <p>Why not through autograd: a fresh {@code [rows, vocab]} array a step (103 MB at 8 × 64 in fp32), freed and
     * asked for again, is what a decay-free allocator splits for smaller requests in between, and then maps anew: the
     * trainer's RSS took steps of about that size at random points of a run. The buffer is made once. And autograd
     * writes the weight's gradient into an array of its own and adds it to the gradient after, where
     * {@link #addWeightGradient} adds the product into the gradient directly.
     *
     * @param hidden final states {@code [rows, C]} in the pass's dtype, part of the autograd graph
     * @param weight the output projection {@code [vocab, C]} the pass used, same dtype
     * @param targets next-token ids {@code [rows]} (int64)
     */
    public Projected projectLossAndGradient(NDArray hidden, NDArray weight, NDArray targets, float scale) {
        if (buffer == null) buffer = manager.create(new ai.djl.ndarray.types.Shape(0, 0));
        try (IValue h = IValue.from((PtNDArray) hidden); IValue w = IValue.from((PtNDArray) weight);
                IValue b = IValue.from((PtNDArray) buffer); IValue t = IValue.from((PtNDArray) targets);
                IValue s = IValue.from((double) scale); IValue out = kernel.call("project", h, w, b, t, s)) {
            ai.djl.ndarray.NDList results = out.toNDList((PtNDManager) hidden.getManager());
            // the same buffer, or the one made for this call: kept either way (a handle; the tensor is shared)
            NDArray kept = results.get(2);
            kept.attach(manager);
            buffer.close();
            buffer = kept;
            return new Projected(results.get(0), results.get(1));
        }
    }

    /**
     * Adds the projection's part of the output weight's gradient, {@code logits' ᵀ · hidden}, into
     * {@code weightGradient} (the fp32 parameter's gradient; the product is made in the pass's dtype). After backward:
     * autograd may replace the gradient array while it accumulates into it.
     */
    public void addWeightGradient(NDArray weightGradient, NDArray hidden) {
        if (buffer == null) throw new IllegalStateException("no projection to add the gradient of");
        try (IValue g = IValue.from((PtNDArray) weightGradient); IValue b = IValue.from((PtNDArray) buffer);
                IValue h = IValue.from((PtNDArray) hidden); IValue out = kernel.call("add_weight_gradient", g, b, h)) {
            // the sum is in weightGradient itself
        }
    }

    @Override
    public void close() {
        if (buffer != null) buffer.close();
        kernel.close();
    }
}
