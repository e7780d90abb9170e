package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

/**
 * The output projection and the mean next-token cross-entropy together, a chunk of rows at a time, with their
 * gradients computed by hand: the {@code [rows, vocab]} logits never exist whole, only a chunk's, and autograd keeps
 * none of them (Liger Kernel's fused linear cross-entropy, Apple's Cut Cross-Entropy). For a small model with GPT-2's
 * 50,257 tokens the projection and the log-softmax are most of a step, and most of its memory.
 *
 * <p>For a chunk, with {@code p = softmax(h·Wᵀ)}: the loss is {@code −Σ log p[target]}, the gradient of the logits
 * {@code (p − onehot(target)) / rows}, so of the states {@code (p·W − W[target]) / rows} and of the weight
 * {@code (pᵀ·h − onehot(target)ᵀ·h) / rows}. The one-hot parts are rows of {@code W} and of {@code h}, never a
 * {@code [rows, vocab]} array. The states' gradient reaches the rest of the network through a surrogate,
 * {@code Σ h ⊙ dh} with {@code dh} held constant, whose backward gives {@code h} exactly {@code dh}; the surrogate's
 * second term, {@code −Σ W[target] ⊙ h / rows}, gives the weight its one-hot part through autograd's embedding
 * backward; the {@code pᵀ·h} part is returned for the caller to add to the weight's gradient.
 */
public final class FusedLinearCrossEntropy {
    /**
     * @param loss the mean cross-entropy
     * @param surrogate a scalar whose backward gives the states their gradient (scale it like the loss)
     * @param weightGradient the output weight's gradient {@code [vocab, C]}, not yet added anywhere
     */
    public record Result(float loss, NDArray surrogate, NDArray weightGradient) {}

    private FusedLinearCrossEntropy() {}

    /**
     * @param hidden final-layer states {@code [rows, C]}, part of the autograd graph
     * @param weight the output projection {@code [vocab, C]} (the tied token embedding)
     * @param targets next-token ids {@code [rows]} (int64)
     * @param chunkRows rows per chunk
     */
    public static Result of(NDArray hidden, NDArray weight, NDArray targets, int chunkRows) {
        NDManager m = hidden.getManager();
        long rows = hidden.getShape().get(0);
        NDArray h = hidden.stopGradient();
        NDArray w = weight.stopGradient();
        NDArray weightGradient = m.zeros(w.getShape(), w.getDataType());
        NDList probabilityTimesWeight = new NDList();
        double loss = 0;
        for (long from = 0; from < rows; from += chunkRows) {
            long to = Math.min(rows, from + chunkRows);
            try (NDManager chunk = m.newSubManager()) {
                NDArray hc = h.get(from + ":" + to);
                NDArray tc = targets.get(from + ":" + to);
                hc.attach(chunk);
                tc.attach(chunk);
                NDArray logProbs = hc.matMul(w.transpose()).logSoftmax(-1);
                loss -= logProbs.gather(tc.expandDims(-1), -1).sum().getFloat();
                NDArray p = logProbs.exp();
                // the one-hot part of (p - onehot) is left to the end: rows of W to subtract, not a [rows, vocab] pass
                NDArray pw = p.matMul(w);
                weightGradient.addi(p.transpose().matMul(hc));
                pw.attach(m);
                probabilityTimesWeight.add(pw);
            }
        }
        NDArray pw = probabilityTimesWeight.size() == 1 ? probabilityTimesWeight.get(0)
                : ai.djl.ndarray.NDArrays.concat(probabilityTimesWeight, 0);
        // dh = (p·W - W[target]) / rows
        NDArray dh = Scalars.over(pw.sub(rowsOf(w, targets)), (float) rows);
        // Σ h ⊙ dh gives the states dh; - Σ W[target] ⊙ h / rows gives W's target rows -h / rows (autograd's
        // embedding backward adds them up where a token is the target of several rows)
        NDArray surrogate = hidden.mul(dh).sum().sub(Scalars.over(rowsOf(weight, targets).mul(h).sum(), (float) rows));
        return new Result((float) (loss / rows), surrogate, Scalars.over(weightGradient, (float) rows));
    }

    /** {@code weight[ids]}, as the embedding lookup autograd differentiates. */
    private static NDArray rowsOf(NDArray weight, NDArray ids) {
        return ids.getNDArrayInternal().embedding(ids, weight, ai.djl.ndarray.types.SparseFormat.DENSE).singletonOrThrow();
    }
}
