package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Random;
import java.util.function.IntConsumer;

/**
 * Autoregressive sampling with temperature and top-k, with a key/value cache: the prompt is run once, then each new
 * token costs one position. When the context fills the model's block, the cache restarts from the last half block.
 * One generation at a time per model, since the parameters are lent to each step's manager.
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

    /**
     * Appends up to {@code maxNewTokens} tokens to {@code prompt}, stopping early at {@code stopToken}; each new
     * token is also given to {@code onToken} as soon as it is chosen.
     */
    public static int[] generate(Gpt gpt, int[] prompt, Settings settings, int stopToken, IntConsumer onToken) {
        synchronized (gpt) {
            Random random = new Random(settings.seed());
            int[] tokens = Arrays.copyOf(prompt, prompt.length + settings.maxNewTokens());
            int length = prompt.length;
            int block = gpt.config().blockSize();
            Gpt.KvCache cache = gpt.newCache();
            try {
                int fed = 0; // tokens[0, fed) are in the cache
                for (int i = 0; i < settings.maxNewTokens(); i++) {
                    if (length - fed + cache.length() > block) { // full: restart from the last half block
                        cache.close();
                        cache = gpt.newCache();
                        fed = Math.max(0, length - block / 2);
                    }
                    long[] feed = new long[length - fed];
                    for (int j = fed; j < length; j++) feed[j - fed] = tokens[j];
                    float[] logits;
                    try (NDManager step = gpt.manager().newSubManager()) {
                        gpt.attachTo(step);
                        NDArray idx = step.create(feed, new Shape(1, feed.length));
                        logits = gpt.forward(idx, cache).get("0, -1, :").toFloatArray();
                    }
                    fed = length;
                    int next = pick(logits, settings.temperature(), settings.topK(), settings.topP(), random);
                    tokens[length++] = next;
                    onToken.accept(next);
                    if (next == stopToken) break;
                }
            } finally {
                cache.close();
            }
            return Arrays.copyOf(tokens, length);
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
