package millrace.dedup;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Exact ground truth for near-duplicate detection: the same greedy rule as the dedup stage (in stream order, a
 * document is a duplicate if its exact Jaccard similarity with a document kept before it reaches the threshold),
 * computed on the exact shingle sets. Candidates come from prefix filtering (Chaudhuri et al. 2006): with tokens in
 * one global order, rarest first, two sets with Jaccard ≥ t share a token among their first
 * {@code |x| - ceil(t·|x|) + 1}; every candidate is then verified exactly. No pair is missed, none is estimated.
 */
public final class JaccardJoin {

    /** For each document (in input order): -1 when kept, else the index of the kept document it duplicates. */
    public record Truth(int[] duplicateOf, double[] similarity) {}

    private JaccardJoin() {}

    public static Truth greedy(List<long[]> shingleSets, double threshold) {
        int n = shingleSets.size();
        // rank every token by its document frequency (rarest first, ties by value): one global order
        Map<Long, Integer> df = new HashMap<>();
        List<long[]> sets = new ArrayList<>(n);
        for (long[] raw : shingleSets) {
            long[] s = Arrays.stream(raw).distinct().toArray();
            sets.add(s);
            for (long t : s) df.merge(t, 1, Integer::sum);
        }
        long[] tokens = df.keySet().stream().mapToLong(Long::longValue).toArray();
        Long[] boxed = Arrays.stream(tokens).boxed().toArray(Long[]::new);
        Arrays.sort(boxed, (a, b) -> {
            int c = Integer.compare(df.get(a), df.get(b));
            return c != 0 ? c : Long.compare(a, b);
        });
        Map<Long, Integer> rank = new HashMap<>(boxed.length * 2);
        for (int i = 0; i < boxed.length; i++) rank.put(boxed[i], i);
        List<long[]> ranked = new ArrayList<>(n);
        for (long[] s : sets) {
            long[] r = new long[s.length];
            for (int i = 0; i < s.length; i++) r[i] = rank.get(s[i]);
            Arrays.sort(r);
            ranked.add(r);
        }

        int[] duplicateOf = new int[n];
        double[] similarity = new double[n];
        Map<Long, List<Integer>> index = new HashMap<>();
        int[] seenAt = new int[n];
        Arrays.fill(seenAt, -1);
        for (int x = 0; x < n; x++) {
            long[] rx = ranked.get(x);
            duplicateOf[x] = -1;
            if (rx.length == 0) continue;
            int prefix = rx.length - (int) Math.ceil(threshold * rx.length) + 1;
            int best = -1;
            double bestSim = -1;
            for (int i = 0; i < prefix; i++) {
                List<Integer> postings = index.get(rx[i]);
                if (postings == null) continue;
                for (int y : postings) {
                    if (seenAt[y] == x) continue;
                    seenAt[y] = x;
                    long[] ry = ranked.get(y);
                    if (ry.length < threshold * rx.length || rx.length < threshold * ry.length) continue;
                    double j = jaccardOfSortedSets(rx, ry);
                    if (j >= threshold && j > bestSim) {
                        best = y;
                        bestSim = j;
                    }
                }
            }
            if (best >= 0) {
                duplicateOf[x] = best;
                similarity[x] = bestSim;
            } else {
                for (int i = 0; i < prefix; i++) index.computeIfAbsent(rx[i], k -> new ArrayList<>()).add(x);
            }
        }
        return new Truth(duplicateOf, similarity);
    }

    /** Exact Jaccard similarity of two shingle multisets (duplicates ignored). */
    public static double jaccard(long[] a, long[] b) {
        return jaccardOfSortedSets(Arrays.stream(a).distinct().sorted().toArray(),
                Arrays.stream(b).distinct().sorted().toArray());
    }

    private static double jaccardOfSortedSets(long[] x, long[] y) {
        int i = 0;
        int j = 0;
        int common = 0;
        while (i < x.length && j < y.length) {
            if (x[i] == y[j]) {
                common++;
                i++;
                j++;
            } else if (x[i] < y[j]) {
                i++;
            } else {
                j++;
            }
        }
        int union = x.length + y.length - common;
        return union == 0 ? 1 : (double) common / union;
    }
}
