package millrace.model;

import java.util.Arrays;
import java.util.Random;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;

/**
 * Autoregressive sampling with temperature, top-k and top-p, with a key/value cache (see {@link DecodeBatch}): the
 * prompt is run once, then each new token costs one position. When the context fills the model's block, the cache
 * restarts from the last half block.
 */
public final class Sampler {
    /**
     * How to sample. {@code temperature} 0 means greedy; {@code topK} 0 and {@code topP} 1 keep every token;
     * otherwise only the {@code topK} likeliest, and of those the smallest set whose probability reaches
     * {@code topP} (nucleus sampling), are drawn from.
     */
    public record Settings(int maxNewTokens, float temperature, int topK, float topP, long seed) {
        public Settings {
            if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be within (0, 1], was " + topP);
        }

        /** Without a nucleus cut. */
        public Settings(int maxNewTokens, float temperature, int topK, long seed) {
            this(maxNewTokens, temperature, topK, 1f, seed);
        }
    }

    private Sampler() {}

    /** Receives each row's new token as soon as it is chosen. */
    @FunctionalInterface
    public interface TokenListener {
        void accept(int row, int token);
    }

    /**
     * Appends up to {@code maxNewTokens} tokens to {@code prompt}, stopping early at one of {@code stopTokens}; each new
     * token is also given to {@code onToken} as soon as it is chosen.
     */
    public static int[] generate(LanguageModel gpt, int[] prompt, Settings settings, int[] stopTokens, IntConsumer onToken) {
        int[] fresh = generate(gpt, prompt, new long[] {settings.seed()}, settings, stopTokens,
                (row, token) -> onToken.accept(token), () -> false)[0];
        int[] all = Arrays.copyOf(prompt, prompt.length + fresh.length);
        System.arraycopy(fresh, 0, all, prompt.length, fresh.length);
        return all;
    }

    /**
     * Samples {@code seeds.length} continuations of one prompt as one batch (a {@link DecodeBatch} of one request) —
     * each row draws from its own generator, seeded by its seed, so row {@code r} is what a batch of one with
     * {@code seeds[r]} would give. A row ends at a stop token (which it keeps as its last token) and leaves the
     * batch while the others go on; the batch ends when every row has, after {@code maxNewTokens}, or as soon as
     * {@code cancelled} says so (the client went away). Returns each row's new tokens.
     */
    public static int[][] generate(LanguageModel gpt, int[] prompt, long[] seeds, Settings settings, int[] stopTokens,
            TokenListener onToken, BooleanSupplier cancelled) {
        try (DecodeBatch batch = new DecodeBatch(gpt)) {
            DecodeBatch.Request request = batch.add(prompt, seeds, settings, stopTokens, onToken, cancelled);
            while (!request.done()) batch.step();
            return request.answers();
        }
    }

    static int pick(float[] logits, float temperature, int topK, Random random) {
        return pick(logits, temperature, topK, 1f, random);
    }

    static int pick(float[] logits, float temperature, int topK, float topP, Random random) {
        if (temperature <= 0) {
            int best = 0;
            for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
            return best;
        }
        float cutoff = Float.NEGATIVE_INFINITY;
        if (topK > 0 && topK < logits.length) {
            float[] sorted = logits.clone();
            Arrays.sort(sorted);
            cutoff = sorted[sorted.length - topK];
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double[] weights = new double[logits.length];
        double total = 0;
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] < cutoff) continue;
            weights[i] = Math.exp((logits[i] - max) / temperature);
            total += weights[i];
        }
        if (topP < 1) total = nucleus(weights, total, topP);
        double r = random.nextDouble() * total;
        for (int i = 0; i < weights.length; i++) {
            r -= weights[i];
            if (r <= 0 && weights[i] > 0) return i;
        }
        return logits.length - 1;
    }

    /** Zeroes every weight outside the smallest set of likeliest tokens holding {@code topP} of the mass; the new total. */
    private static double nucleus(double[] weights, double total, float topP) {
        Integer[] order = new Integer[weights.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(weights[b], weights[a]));
        double kept = 0;
        int i = 0;
        while (i < order.length && kept < topP * total) kept += weights[order[i++]];
        for (; i < order.length; i++) weights[order[i]] = 0;
        return kept;
    }
}
