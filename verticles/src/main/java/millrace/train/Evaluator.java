package millrace.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import millrace.model.LanguageModel;
import millrace.tokenizer.TextTokenizer;

/**
 * Held-out evaluation of a model: perplexity of a text, and last-word accuracy (LAMBADA-style cloze: given a line
 * without its last word, do the model's greedy predictions spell exactly that word, token by token?).
 */
public final class Evaluator {
    /** The figures. {@code perplexity = exp(loss)}; accuracy over {@code lines} lines. */
    public record Result(long tokens, double loss, double perplexity, int lines, double lastWordAccuracy) {}

    private Evaluator() {}

    public static Result evaluate(LanguageModel gpt, TextTokenizer tokenizer, String text, int maxLines) {
        int block = gpt.config().contextLength();
        int[] ids = tokenizer.encode(text);
        double lossSum = 0;
        long counted = 0;
        synchronized (gpt) {
            for (int start = 0; start + 1 < ids.length; start += block) {
                int end = Math.min(ids.length, start + block + 1);
                long[] window = new long[end - start];
                for (int i = start; i < end; i++) window[i - start] = ids[i];
                int t = window.length - 1;
                try (NDManager step = gpt.manager().newSubManager()) {
                    gpt.attachTo(step);
                    NDArray w = step.create(window, new Shape(1, window.length));
                    NDArray logits = gpt.forward(w.get(":, 0:" + t), false).stopGradient();
                    lossSum += LanguageModel.loss(logits, w.get(":, 1:")).getFloat() * t;
                    counted += t;
                }
            }
            int lines = 0;
            int correct = 0;
            for (String line : text.split("\n")) {
                if (lines >= maxLines) break;
                String trimmed = line.stripTrailing();
                int cut = trimmed.lastIndexOf(' ');
                if (cut <= 0 || cut == trimmed.length() - 1) continue;
                int[] context = tokenizer.encode(trimmed.substring(0, cut));
                int[] word = tokenizer.encode(trimmed.substring(cut));
                if (context.length + word.length > block + 1 || context.length == 0) continue;
                lines++;
                if (greedySpells(gpt, context, word)) correct++;
            }
            double loss = counted == 0 ? Double.NaN : lossSum / counted;
            return new Result(counted, loss, Math.exp(loss), lines, lines == 0 ? Double.NaN : (double) correct / lines);
        }
    }

    /** Teacher-forced: at every position of the word, the most likely next token is the word's token. */
    private static boolean greedySpells(LanguageModel gpt, int[] context, int[] word) {
        int n = context.length + word.length - 1;
        long[] input = new long[n];
        for (int i = 0; i < context.length; i++) input[i] = context[i];
        for (int i = 0; i < word.length - 1; i++) input[context.length + i] = word[i];
        try (NDManager step = gpt.manager().newSubManager()) {
            gpt.attachTo(step);
            NDArray logits = gpt.forward(step.create(input, new Shape(1, n)), false).stopGradient();
            long[] best = logits.get("0, " + (context.length - 1) + ":" + n + ", :").argMax(-1).toLongArray();
            for (int i = 0; i < word.length; i++) if (best[i] != word[i]) return false;
            return true;
        }
    }
}
