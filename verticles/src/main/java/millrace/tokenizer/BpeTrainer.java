package millrace.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Learns a byte-level BPE vocabulary with Hugging Face's semantics: split the text with the pattern, count the
 * pieces, then repeatedly merge the most frequent adjacent pair (ties: the pair of smaller ids first) until the
 * vocabulary is full or no pair is frequent enough. Pair counts are kept incrementally — each merge touches only the
 * words that contain the pair — so the corpus is read once.
 *
 * <p>Ids: 0–255 are the bytes, then the merges in order, then the special tokens. Deterministic for the same input.
 */
public final class BpeTrainer {
    /** Chat-role markers and the document separator, added to every trained vocabulary. */
    public static final List<String> DEFAULT_SPECIALS = List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>");

    private final Pattern pattern;
    private final String patternText;
    /** Piece → occurrences; concurrent so that several threads can count. */
    private final Map<String, Long> pieces = new ConcurrentHashMap<>();

    public BpeTrainer(String pattern) {
        this.patternText = pattern;
        this.pattern = Pretokenizer.compile(pattern);
    }

    /** Counts the pieces of one text. Thread-safe. */
    public void add(String text) {
        Map<String, Long> local = new HashMap<>();
        Matcher m = pattern.matcher(text);
        while (m.find()) local.merge(m.group(), 1L, Long::sum);
        local.forEach((k, v) -> pieces.merge(k, v, Long::sum));
    }

    public int distinctPieces() {
        return pieces.size();
    }

    /** Learns {@code vocabSize} tokens (bytes, merges and specials together). */
    public ByteLevelBpe train(String name, int vocabSize, long minFrequency, List<String> specials) {
        int merges = vocabSize - 256 - specials.size();
        if (merges < 0) throw new IllegalArgumentException("vocabulary of " + vocabSize + " cannot hold the 256 bytes and "
                + specials.size() + " specials");
        // words, sorted so that the result does not depend on the map's iteration order
        List<String> keys = new ArrayList<>(pieces.keySet());
        keys.sort(null);
        int n = keys.size();
        int[][] words = new int[n][];
        long[] counts = new long[n];
        for (int w = 0; w < n; w++) {
            byte[] b = keys.get(w).getBytes(StandardCharsets.UTF_8);
            words[w] = new int[b.length];
            for (int i = 0; i < b.length; i++) words[w][i] = b[i] & 0xFF;
            counts[w] = pieces.get(keys.get(w));
        }

        Map<Long, long[]> pairCounts = new HashMap<>();
        Map<Long, IntList> where = new HashMap<>();
        for (int w = 0; w < n; w++) {
            int[] s = words[w];
            for (int i = 0; i + 1 < s.length; i++) {
                long p = pair(s[i], s[i + 1]);
                pairCounts.computeIfAbsent(p, k -> new long[1])[0] += counts[w];
                where.computeIfAbsent(p, k -> new IntList()).add(w);
            }
        }
        PriorityQueue<long[]> queue = new PriorityQueue<>(BpeTrainer::byCountThenPair);
        pairCounts.forEach((p, c) -> queue.add(new long[] {c[0], p}));

        List<byte[]> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(new byte[] {(byte) b});
        int[] seen = new int[n];
        int stamp = 0;
        while (tokens.size() < 256 + merges && !queue.isEmpty()) {
            long[] top = queue.poll();
            long p = top[1];
            long[] current = pairCounts.get(p);
            long count = current == null ? 0 : current[0];
            if (count != top[0]) { // stale entry: counts only fall for pairs that do not involve the newest token
                if (count > 0) queue.add(new long[] {count, p});
                continue;
            }
            if (count < minFrequency) break;
            int a = (int) (p >>> 32);
            int b = (int) p;
            int c = tokens.size();
            byte[] ab = Arrays.copyOf(tokens.get(a), tokens.get(a).length + tokens.get(b).length);
            System.arraycopy(tokens.get(b), 0, ab, tokens.get(a).length, tokens.get(b).length);
            tokens.add(ab);

            stamp++;
            Map<Long, long[]> created = new HashMap<>();
            IntList affected = where.remove(p);
            for (int k = 0; k < affected.size; k++) {
                int w = affected.data[k];
                if (seen[w] == stamp) continue;
                seen[w] = stamp;
                int[] s = words[w];
                int[] merged = mergeWord(s, a, b, c);
                if (merged == s) continue; // stale: the pair left this word in an earlier merge
                long wc = counts[w];
                for (int i = 0; i + 1 < s.length; i++) pairCounts.get(pair(s[i], s[i + 1]))[0] -= wc;
                for (int i = 0; i + 1 < merged.length; i++) {
                    long q = pair(merged[i], merged[i + 1]);
                    pairCounts.computeIfAbsent(q, key -> new long[1])[0] += wc;
                    if (merged[i] == c || merged[i + 1] == c) {
                        created.put(q, pairCounts.get(q));
                        where.computeIfAbsent(q, key -> new IntList()).add(w);
                    }
                }
                words[w] = merged;
            }
            pairCounts.remove(p);
            created.forEach((q, qc) -> queue.add(new long[] {qc[0], q}));
        }

        int size = tokens.size() + specials.size();
        Map<String, Integer> specialIds = new LinkedHashMap<>();
        for (int i = 0; i < specials.size(); i++) specialIds.put(specials.get(i), tokens.size() + i);
        byte[][] table = tokens.toArray(new byte[size][]);
        return new ByteLevelBpe(name, patternText, table, specialIds);
    }

    /** The word with every non-overlapping (a, b), left to right, replaced by c; the same array if none. */
    static int[] mergeWord(int[] s, int a, int b, int c) {
        int[] out = null;
        int n = 0;
        for (int i = 0; i < s.length; i++) {
            if (i + 1 < s.length && s[i] == a && s[i + 1] == b) {
                if (out == null) {
                    out = new int[s.length - 1];
                    System.arraycopy(s, 0, out, 0, i);
                    n = i;
                }
                out[n++] = c;
                i++;
            } else if (out != null) {
                out[n++] = s[i];
            }
        }
        return out == null ? s : Arrays.copyOf(out, n);
    }

    private static long pair(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    /** Larger count first; for equal counts the smaller pair (left id, then right id) first, as Hugging Face does. */
    private static int byCountThenPair(long[] x, long[] y) {
        if (x[0] != y[0]) return Long.compare(y[0], x[0]);
        return Long.compare(x[1], y[1]);
    }

    /** A growable int list without boxing. */
    static final class IntList {
        int[] data = new int[4];
        int size;

        void add(int v) {
            if (size == data.length) data = Arrays.copyOf(data, size * 2);
            data[size++] = v;
        }
    }
}
