package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Random;
import java.util.function.BooleanSupplier;
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

    /** Receives each row's new token as soon as it is chosen. */
    @FunctionalInterface
    public interface TokenListener {
        void accept(int row, int token);
    }

    /**
     * Appends up to {@code maxNewTokens} tokens to {@code prompt}, stopping early at {@code stopToken}; each new
     * token is also given to {@code onToken} as soon as it is chosen.
     */
    public static int[] generate(Gpt gpt, int[] prompt, Settings settings, int stopToken, IntConsumer onToken) {
        int[] fresh = generate(gpt, prompt, new long[] {settings.seed()}, settings, stopToken,
                (row, token) -> onToken.accept(token), () -> false)[0];
        int[] all = Arrays.copyOf(prompt, prompt.length + fresh.length);
        System.arraycopy(fresh, 0, all, prompt.length, fresh.length);
        return all;
    }

    /**
     * Samples {@code seeds.length} continuations of one prompt as one batch — each row draws from its own generator,
     * seeded by its seed, so row {@code r} is exactly what a batch of one with {@code seeds[r]} would give. A row ends at
     * {@code stopToken} (which it keeps as its last token) while the others go on; the batch ends when every row has,
     * after {@code maxNewTokens}, or as soon as {@code cancelled} says so (the client went away). Returns each row's
     * new tokens.
     */
    public static int[][] generate(Gpt gpt, int[] prompt, long[] seeds, Settings settings, int stopToken,
            TokenListener onToken, BooleanSupplier cancelled) {
        int rows = seeds.length;
        synchronized (gpt) {
            Random[] random = new Random[rows];
            for (int r = 0; r < rows; r++) random[r] = new Random(seeds[r]);
            // every row has the same length at every step (a finished row is fed its stop token, and its logits
            // ignored), so the rows share one cache and one position
            int[][] tokens = new int[rows][];
            for (int r = 0; r < rows; r++) tokens[r] = Arrays.copyOf(prompt, prompt.length + settings.maxNewTokens());
            int[] ended = new int[rows]; // 0 while running, else the row's length
            int length = prompt.length;
            int block = gpt.config().blockSize();
            Gpt.KvCache cache = gpt.newCache();
            try {
                int fed = 0; // tokens[*][0, fed) are in the cache
                for (int i = 0; i < settings.maxNewTokens() && !cancelled.getAsBoolean(); i++) {
                    if (length - fed + cache.length() > block) { // full: restart from the last half block
                        cache.close();
                        cache = gpt.newCache();
                        fed = Math.max(0, length - block / 2);
                    }
                    int n = length - fed;
                    long[] feed = new long[rows * n];
                    for (int r = 0; r < rows; r++) {
                        for (int j = fed; j < length; j++) feed[r * n + j - fed] = tokens[r][j];
                    }
                    float[] logits = null;
                    long[] greedy = null;
                    try (NDManager step = gpt.manager().newSubManager()) {
                        gpt.attachTo(step);
                        NDArray idx = step.create(feed, new Shape(rows, n));
                        NDArray last = gpt.forwardLast(idx, cache);
                        // greedy: the argmax in libtorch, not the whole [rows, vocab] logits copied out to pick from
                        if (settings.temperature() <= 0) greedy = last.argMax(-1).toLongArray();
                        else logits = last.toFloatArray();
                    }
                    fed = length;
                    int vocab = logits == null ? 0 : logits.length / rows;
                    boolean running = false;
                    for (int r = 0; r < rows; r++) {
                        if (ended[r] > 0) {
                            tokens[r][length] = stopToken;
                            continue;
                        }
                        int next = greedy != null ? (int) greedy[r] : pick(rows == 1 ? logits
                                : Arrays.copyOfRange(logits, r * vocab, (r + 1) * vocab), settings.temperature(),
                                settings.topK(), settings.topP(), random[r]);
                        tokens[r][length] = next;
                        onToken.accept(r, next);
                        if (next == stopToken) ended[r] = length + 1;
                        else running = true;
                    }
                    length++;
                    if (!running) break;
                }
            } finally {
                cache.close();
            }
            int[][] fresh = new int[rows][];
            for (int r = 0; r < rows; r++) fresh[r] = Arrays.copyOfRange(tokens[r], prompt.length, ended[r] > 0 ? ended[r] : length);
            return fresh;
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
