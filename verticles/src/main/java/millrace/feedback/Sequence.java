package millrace.feedback;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.List;
import millrace.model.Gpt;
import millrace.tokenizer.TextTokenizer;

/**
 * A prompt and an answer as one row of token ids, the answer ended by the end-of-text token (as TRL's trainers end
 * chosen and rejected answers with EOS): the model learns where to stop, too. Only the answer's tokens are scored.
 *
 * @param ids prompt tokens, then answer tokens
 * @param answerFrom the index in {@code ids} of the first answer token
 */
record Sequence(int[] ids, int answerFrom) {

    /**
     * Cut to the model's context: the prompt loses its oldest tokens first (at least one stays, the answer is scored
     * given something); an answer longer than the whole context loses its end.
     */
    static Sequence of(TextTokenizer tokenizer, String prompt, String answer, int blockSize) {
        int[] p = tokenizer.encode(prompt);
        if (p.length == 0) p = new int[] {tokenizer.endOfText()};
        int[] a = tokenizer.encode(answer);
        a = Arrays.copyOf(a, a.length + 1);
        a[a.length - 1] = tokenizer.endOfText();
        int room = blockSize + 1; // inputs and their next-token targets
        if (a.length >= room) {
            p = new int[] {p[p.length - 1]};
            a = Arrays.copyOf(a, room - 1);
        } else if (p.length + a.length > room) {
            p = Arrays.copyOfRange(p, p.length - (room - a.length), p.length);
        }
        int[] ids = Arrays.copyOf(p, p.length + a.length);
        System.arraycopy(a, 0, ids, p.length, a.length);
        return new Sequence(ids, p.length);
    }

    int answerTokens() {
        return ids.length - answerFrom;
    }

    /** Next-token targets scored: the answer's tokens and its end. */
    int scored() {
        return ids.length - answerFrom;
    }

    /**
     * For each sequence, the sum over its answer tokens of log p(token | everything before it) under {@code gpt}:
     * {@code [B]}. Recorded for gradients when called inside a gradient lane with parameters that require them. The
     * rows are padded to the longest (padding comes after every scored token, so none attends to it), and only the
     * answer's positions are projected onto the vocabulary — the projection is most of a small model's work, and the
     * prompt's positions would be thrown away.
     */
    static NDArray logProbSums(Gpt gpt, List<Sequence> batch, NDManager scope) {
        int b = batch.size();
        int length = batch.stream().mapToInt(s -> s.ids().length).max().orElseThrow();
        int positions = batch.stream().mapToInt(Sequence::scored).sum();
        long[] ids = new long[b * length];
        long[] picked = new long[positions]; // flat index (row * (length - 1) + position) of each scored target
        long[] targets = new long[positions];
        float[] owner = new float[b * positions]; // owner[row][k] = 1 when scored target k belongs to row
        int k = 0;
        for (int r = 0; r < b; r++) {
            Sequence s = batch.get(r);
            for (int j = 0; j < s.ids().length; j++) ids[r * length + j] = s.ids()[j];
            // target j is token j+1: scored when it belongs to the answer
            for (int j = s.answerFrom() - 1; j < s.ids().length - 1; j++, k++) {
                picked[k] = (long) r * (length - 1) + j;
                targets[k] = s.ids()[j + 1];
                owner[r * positions + k] = 1f;
            }
        }
        NDArray all = scope.create(ids, new Shape(b, length));
        NDArray hidden = gpt.hidden(all.get(":, 0:" + (length - 1)), false);
        NDArray states = hidden.reshape(b * (length - 1), hidden.getShape().get(2)).get(scope.create(picked));
        NDArray logProbs = gpt.logits(states).logSoftmax(-1).gather(scope.create(targets, new Shape(positions, 1)), -1);
        return scope.create(owner, new Shape(b, positions)).matMul(logProbs).reshape(b);
    }
}
