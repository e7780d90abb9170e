package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;

/**
 * The next-token cross-entropy and its gradient in one pass over the logits, the gradient written over them (Liger
 * Kernel's cross-entropy). Through autograd, {@code log_softmax} writes a second {@code [rows, vocab]} array, keeps it
 * for backward, and backward writes a third (and the fp32 copy of low-precision logits a fourth); at 8 × 64 tokens
 * and GPT-2's 50,257 tokens each is 103 MB in fp32. Here a chunk of rows at a time, small enough to stay in the CPU's
 * cache, is read once, its loss summed and its gradient {@code (softmax − onehot(target)) · scale} written back in the
 * logits' own dtype (the softmax in fp32 whatever it is). The caller then runs backward from the logits with
 * themselves as the gradient: the output projection's backward reads only its gradient, never its output.
 *
 * <p>The whole pass is one TorchScript call with no host sync, so on a GPU it queues like any other op; there the
 * chunks are large (the cache argument is moot, the launches are not).
 */
public final class InPlaceCrossEntropy implements AutoCloseable {
    private final TorchScriptModule kernel;

    /** A kernel for logits of {@code vocab} columns on {@code manager}'s device. */
    public InPlaceCrossEntropy(PtNDManager manager, long vocab) {
        this(compile(manager, chunkRows(manager, vocab)));
    }

    private InPlaceCrossEntropy(TorchScriptModule kernel) {
        this.kernel = kernel;
    }

    /** A kernel that takes {@code chunkRows} rows at a time (tests: chunks that do and do not divide the rows). */
    static InPlaceCrossEntropy inChunksOf(PtNDManager manager, long chunkRows) {
        return new InPlaceCrossEntropy(compile(manager, chunkRows));
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
                + "    return torch.sum(torch.cat(losses))\n";
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

    @Override
    public void close() {
        kernel.close();
    }
}
