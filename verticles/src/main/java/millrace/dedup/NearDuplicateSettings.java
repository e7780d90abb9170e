package millrace.dedup;

/**
 * MinHash LSH parameters. The defaults follow datatrove's MinHash dedup (word 5-grams, 14 bands of 8 rows = 112
 * permutations); a candidate from a shared band is a duplicate only if the signatures' estimated Jaccard similarity
 * reaches {@code threshold}, which keeps unrelated documents that share a band by chance apart.
 */
public record NearDuplicateSettings(int shingleSize, int bands, int rows, double threshold, long seed) {
    public static final NearDuplicateSettings DEFAULT = new NearDuplicateSettings(5, 14, 8, 0.75, 1);

    public NearDuplicateSettings {
        if (shingleSize < 1 || bands < 1 || rows < 1) throw new IllegalArgumentException("shingle size, bands and rows must be >= 1");
        if (!(threshold >= 0 && threshold <= 1)) throw new IllegalArgumentException("threshold must be within [0, 1]");
    }

    public int permutations() {
        return bands * rows;
    }

    public MinHasher hasher() {
        return new MinHasher(shingleSize, permutations(), seed);
    }
}
