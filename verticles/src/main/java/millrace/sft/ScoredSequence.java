package millrace.sft;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import millrace.model.Gpt;

/**
 * A row of token ids and which of its next-token targets are scored: an answer and its end (a preference pair's
 * sides), or every assistant turn of a conversation (a fine-tuning example). Scored targets are what the SFT loss
 * trains on and what DPO and KTO sum log-probabilities over; the rest is context.
 *
 * @param ids the tokens
 * @param scored per target {@code j} (token {@code j+1} after {@code ids[0..j]}), whether it is scored
 */
public record ScoredSequence(int[] ids, boolean[] scored) {
    public ScoredSequence {
        if (scored.length != ids.length - 1) throw new IllegalArgumentException("one flag per next-token target");
    }

    /** Scored targets. */
    public int scoredCount() {
        int n = 0;
        for (boolean b : scored) if (b) n++;
        return n;
    }

    /**
     * For each sequence, the sum over its scored targets of log p(token | everything before it) under {@code gpt}:
     * {@code [B]}. Recorded for gradients when called inside a gradient lane with parameters that require them. The
     * rows are padded to the longest (padding comes after every scored token, so none attends to it), and only the
     * scored positions are projected onto the vocabulary — the projection is most of a small model's work, and the
     * context's positions would be thrown away.
     */
    public static NDArray logProbSums(Gpt gpt, List<ScoredSequence> batch, NDManager scope) {
        int length = batch.stream().mapToInt(s -> s.ids().length).max().orElseThrow();
        return logProbSums(gpt, gpt.hidden(inputs(batch, scope).get(":, 0:" + (length - 1)), false), batch, scope);
    }

    /** The rows, padded to the longest: {@code [B, longest]} token ids. */
    static NDArray inputs(List<ScoredSequence> batch, NDManager scope) {
        int b = batch.size();
        int length = batch.stream().mapToInt(s -> s.ids().length).max().orElseThrow();
        long[] ids = new long[b * length];
        for (int r = 0; r < b; r++) {
            int[] row = batch.get(r).ids();
            for (int j = 0; j < row.length; j++) ids[r * length + j] = row[j];
        }
        return scope.create(ids, new Shape(b, length));
    }

    /**
     * {@link #logProbSums} from the final-layer states {@code hidden} ({@code [B, longest - 1, C]}) the rows gave: only
     * the scored positions are read, so no other position can get a gradient.
     */
    static NDArray logProbSums(Gpt gpt, NDArray hidden, List<ScoredSequence> batch, NDManager scope) {
        int b = batch.size();
        int length = batch.stream().mapToInt(s -> s.ids().length).max().orElseThrow();
        int positions = batch.stream().mapToInt(ScoredSequence::scoredCount).sum();
        long[] picked = new long[positions]; // flat index (row * (length - 1) + position) of each scored target
        long[] targets = new long[positions];
        float[] owner = new float[b * positions]; // owner[row][k] = 1 when scored target k belongs to row
        int k = 0;
        for (int r = 0; r < b; r++) {
            ScoredSequence s = batch.get(r);
            for (int j = 0; j < s.scored().length; j++) {
                if (!s.scored()[j]) continue;
                picked[k] = (long) r * (length - 1) + j;
                targets[k] = s.ids()[j + 1];
                owner[r * positions + k] = 1f;
                k++;
            }
        }
        NDArray states = hidden.reshape(b * (length - 1), hidden.getShape().get(2)).get(scope.create(picked));
        NDArray logProbs = gpt.logits(states).logSoftmax(-1).gather(scope.create(targets, new Shape(positions, 1)), -1);
        return scope.create(owner, new Shape(b, positions)).matMul(logProbs).reshape(b);
    }

    /** The SFT loss of each sequence: the mean negative log-likelihood of its scored tokens. */
    public static NDArray sftLoss(NDArray logProbSums, NDArray scoredCounts) {
        return logProbSums.neg().div(scoredCounts);
    }
}
