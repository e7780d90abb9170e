package millrace.dedup;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * MinHash signatures over word shingles. Words are maximal runs of letters and digits, lower-cased; a shingle is
 * {@code shingleSize} consecutive words (a text with fewer words is one shingle). Each shingle is hashed once to 32
 * bits; permutation {@code i} maps it through {@code fmix32(x ^ seed[i])}, a bijection of the 32-bit space, and the
 * signature keeps the minimum per permutation. The inner loop is plain int arithmetic over arrays, which the JIT
 * vectorises: this is where the dedup stage spends its time.
 *
 * <p>Two texts' signatures agree at a position with probability equal to the Jaccard similarity of their shingle
 * sets, so the share of equal positions estimates it.
 */
public final class MinHasher {
    private final int shingleSize;
    private final int[] seeds;

    public MinHasher(int shingleSize, int permutations, long seed) {
        if (shingleSize < 1) throw new IllegalArgumentException("shingle size must be >= 1");
        if (permutations < 1) throw new IllegalArgumentException("permutations must be >= 1");
        this.shingleSize = shingleSize;
        SplittableRandom random = new SplittableRandom(seed);
        this.seeds = new int[permutations];
        for (int i = 0; i < permutations; i++) seeds[i] = random.nextInt();
    }

    public int permutations() {
        return seeds.length;
    }

    public int[] signature(String text) {
        int[] sig = new int[seeds.length];
        Arrays.fill(sig, Integer.MAX_VALUE);
        int[] seeds = this.seeds;
        long[] shingles = shingleHashes(text, shingleSize);
        for (long s : shingles) {
            int x = (int) s;
            for (int i = 0; i < seeds.length; i++) {
                int h = x ^ seeds[i];
                h ^= h >>> 16;
                h *= 0x85ebca6b;
                h ^= h >>> 13;
                h *= 0xc2b2ae35;
                h ^= h >>> 16;
                sig[i] = Math.min(sig[i], h ^ Integer.MIN_VALUE); // unsigned order as signed ints
            }
        }
        return sig;
    }

    /** The share of positions at which two signatures agree: an estimate of the Jaccard similarity. */
    public static double similarity(int[] a, int[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("signatures of different lengths");
        int same = 0;
        for (int i = 0; i < a.length; i++) if (a[i] == b[i]) same++;
        return (double) same / a.length;
    }

    /**
     * 64-bit hashes of the text's word shingles (possibly repeated). Exact-Jaccard ground truth in the benchmark uses
     * the same shingles, so the benchmark measures the estimate, not a different tokenisation.
     */
    public static long[] shingleHashes(String text, int shingleSize) {
        long[] words = wordHashes(text);
        if (words.length == 0) return new long[0];
        if (words.length <= shingleSize) return new long[] {combine(words, 0, words.length)};
        long[] out = new long[words.length - shingleSize + 1];
        for (int i = 0; i < out.length; i++) out[i] = combine(words, i, shingleSize);
        return out;
    }

    private static long combine(long[] words, int from, int n) {
        long h = 0x9E3779B97F4A7C15L;
        for (int j = from; j < from + n; j++) h = mix64(h ^ words[j]) + j - from;
        return mix64(h);
    }

    /** One FNV-1a style hash per word; words are runs of letters and digits, compared case-insensitively. */
    static long[] wordHashes(String text) {
        long[] out = new long[Math.max(16, text.length() / 5)];
        int n = 0;
        long h = 0;
        boolean inWord = false;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (Character.isLetterOrDigit(cp)) {
                if (!inWord) {
                    h = 0xcbf29ce484222325L;
                    inWord = true;
                }
                h = (h ^ Character.toLowerCase(cp)) * 0x100000001b3L;
            } else if (inWord) {
                if (n == out.length) out = Arrays.copyOf(out, n * 2);
                out[n++] = h;
                inWord = false;
            }
        }
        if (inWord) {
            if (n == out.length) out = Arrays.copyOf(out, n + 1);
            out[n++] = h;
        }
        return Arrays.copyOf(out, n);
    }

    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
