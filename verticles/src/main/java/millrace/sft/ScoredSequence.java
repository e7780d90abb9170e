package millrace.sft;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import millrace.model.LanguageModel;

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
     * Where a batch's sequences sit in the model's rows: one per row, padded to the longest, or packed back to back
     * into rows of at most the model's context. {@code row[i]} and {@code offset[i]}: sequence {@code i}'s row and first
     * token; {@code length}: the tokens of the longest row.
     */
    public record Layout(boolean packed, int rows, int length, int[] row, int[] offset) {
        /** Each sequence its own row. */
        public static Layout padded(List<ScoredSequence> batch) {
            int b = batch.size();
            int[] row = new int[b];
            for (int i = 0; i < b; i++) row[i] = i;
            return new Layout(false, b, batch.stream().mapToInt(s -> s.ids().length).max().orElseThrow(), row, new int[b]);
        }

        /**
         * First fit, longest first: each sequence into the first row with room for it (a row of {@code blockSize}
         * inputs holds {@code blockSize + 1} tokens: its last token is only a target).
         */
        public static Layout packed(List<ScoredSequence> batch, int blockSize) {
            int b = batch.size();
            Integer[] order = new Integer[b];
            for (int i = 0; i < b; i++) order[i] = i;
            java.util.Arrays.sort(order, (x, y) -> Integer.compare(batch.get(y).ids().length, batch.get(x).ids().length));
            List<Integer> fill = new java.util.ArrayList<>();
            int[] row = new int[b];
            int[] offset = new int[b];
            for (int i : order) {
                int n = batch.get(i).ids().length;
                int r = 0;
                while (r < fill.size() && fill.get(r) + n > blockSize + 1) r++;
                if (r == fill.size()) fill.add(0);
                row[i] = r;
                offset[i] = fill.get(r);
                fill.set(r, fill.get(r) + n);
            }
            return new Layout(true, fill.size(), fill.stream().mapToInt(Integer::intValue).max().orElseThrow(), row, offset);
        }

        /** The model's rows: {@code [rows, length]} token ids, zeros after each row's last sequence. */
        NDArray inputs(List<ScoredSequence> batch, NDManager scope) {
            long[] ids = new long[rows * length];
            for (int i = 0; i < batch.size(); i++) {
                int[] s = batch.get(i).ids();
                for (int j = 0; j < s.length; j++) ids[row[i] * length + offset[i] + j] = s[j];
            }
            return scope.create(ids, new Shape(rows, length));
        }

        /** Per input position, row after row, its sequence's number + 1 (0: padding): {@code rows × (length - 1)}. */
        long[] segments(List<ScoredSequence> batch) {
            long[] seg = new long[rows * (length - 1)];
            for (int i = 0; i < batch.size(); i++) {
                int n = batch.get(i).ids().length;
                for (int j = 0; j < n && offset[i] + j < length - 1; j++) seg[row[i] * (length - 1) + offset[i] + j] = i + 1;
            }
            return seg;
        }

        /** The share of the rows' input positions that hold a sequence's token (the rest is padding). */
        public double fill(List<ScoredSequence> batch) {
            long tokens = batch.stream().mapToLong(s -> s.ids().length - 1).sum();
            return (double) tokens / ((long) rows * (length - 1));
        }
    }

    /**
     * For each sequence, the sum over its scored targets of log p(token | everything before it) under {@code gpt}:
     * {@code [B]}. Recorded for gradients when called inside a gradient lane with parameters that require them. The
     * rows are padded to the longest (padding comes after every scored token, so none attends to it), and only the
     * scored positions are projected onto the vocabulary — the projection is most of a small model's work, and the
     * context's positions would be thrown away.
     */
    public static NDArray logProbSums(LanguageModel gpt, List<ScoredSequence> batch, NDManager scope) {
        return logProbSums(gpt, batch, Layout.padded(batch), scope);
    }

    /** {@link #logProbSums} with the sequences where {@code layout} puts them: packed ones see only themselves. */
    public static NDArray logProbSums(LanguageModel gpt, List<ScoredSequence> batch, Layout layout, NDManager scope) {
        NDArray inputs = layout.inputs(batch, scope).get(":, 0:" + (layout.length() - 1));
        NDArray hidden = layout.packed() ? gpt.hiddenPacked(inputs, layout.segments(batch), false) : gpt.hidden(inputs, false);
        return logProbSums(gpt, hidden, batch, layout, scope);
    }

    /**
     * {@link #logProbSums} from the final-layer states {@code hidden} ({@code [rows, length - 1, C]}) the rows gave:
     * only the scored positions are read, so no other position can get a gradient.
     */
    static NDArray logProbSums(LanguageModel gpt, NDArray hidden, List<ScoredSequence> batch, Layout layout, NDManager scope) {
        int b = batch.size();
        int inputs = layout.length() - 1;
        int positions = batch.stream().mapToInt(ScoredSequence::scoredCount).sum();
        long[] picked = new long[positions]; // flat index (row * inputs + position) of each scored target
        long[] targets = new long[positions];
        float[] owner = new float[b * positions]; // owner[sequence][k] = 1 when scored target k belongs to it
        int k = 0;
        for (int i = 0; i < b; i++) {
            ScoredSequence s = batch.get(i);
            for (int j = 0; j < s.scored().length; j++) {
                if (!s.scored()[j]) continue;
                picked[k] = (long) layout.row()[i] * inputs + layout.offset()[i] + j;
                targets[k] = s.ids()[j + 1];
                owner[i * positions + k] = 1f;
                k++;
            }
        }
        NDArray states = hidden.reshape((long) layout.rows() * inputs, hidden.getShape().get(2)).get(scope.create(picked));
        NDArray logProbs = gpt.logits(states).logSoftmax(-1).gather(scope.create(targets, new Shape(positions, 1)), -1);
        return scope.create(owner, new Shape(b, positions)).matMul(logProbs).reshape(b);
    }

    /** The SFT loss of each sequence: the mean negative log-likelihood of its scored tokens. */
    public static NDArray sftLoss(NDArray logProbSums, NDArray scoredCounts) {
        return logProbSums.neg().div(scoredCounts);
    }
}
