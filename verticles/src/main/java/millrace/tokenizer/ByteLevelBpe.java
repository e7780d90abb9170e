package millrace.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import millrace.protocol.DocumentIds;

/**
 * Byte-level BPE, as in GPT-2 and tiktoken: text is split into pieces by a regular expression, each piece's UTF-8
 * bytes start as single-byte tokens, and the adjacent pair whose merge has the lowest rank is merged until no pair
 * merges. Special tokens ({@code <|endoftext|>}, chat roles) have their own ids and are only produced by
 * {@link #encodeWithSpecials}.
 *
 * <p>A vocabulary is its tokens (byte strings with ids), their merge ranks, the split pattern and the specials; its
 * {@link #id()} is a hash of exactly that, so two identical vocabularies loaded from different formats share an id.
 */
public final class ByteLevelBpe implements TextTokenizer {
    private static final int NONE = Integer.MAX_VALUE;

    private final String name;
    private final String pattern;
    private final Pattern compiled;
    /** The cl100k pattern has a hand-written splitter that gives the same pieces faster. */
    private final boolean cl100kSplit;
    private final boolean o200kSplit;
    private final byte[][] tokens; // by id; null for ids used by specials
    private final BytesTable ids;
    private final BytesTable ranks; // null when every rank equals the id (tiktoken files)
    private final Map<String, Integer> specials;
    private final Pattern specialSplit;
    private final String id;

    /**
     * @param tokens token bytes by id (null entries for special ids)
     * @param mergeRanks merge rank by id (null: the id is the rank)
     */
    ByteLevelBpe(String name, String pattern, byte[][] tokens, int[] mergeRanks, Map<String, Integer> specials) {
        this.name = name;
        this.pattern = pattern;
        this.compiled = Pretokenizer.compile(pattern);
        this.cl100kSplit = pattern.equals(Pretokenizer.CL100K);
        this.o200kSplit = pattern.equals(Pretokenizer.O200K);
        this.tokens = tokens;
        this.specials = Collections.unmodifiableMap(new LinkedHashMap<>(specials));
        this.ids = new BytesTable(tokens.length);
        this.ranks = mergeRanks == null ? null : new BytesTable(tokens.length);
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] == null) continue;
            ids.put(tokens[i], i);
            if (ranks != null) ranks.put(tokens[i], mergeRanks[i]);
        }
        for (int b = 0; b < 256; b++) {
            if (ids.get(new byte[] {(byte) b}, 0, 1) < 0) throw new IllegalArgumentException("byte " + b + " has no token");
        }
        this.specialSplit = specials.isEmpty() ? null : Pattern.compile(String.join("|",
                specials.keySet().stream().sorted((a, c) -> c.length() - a.length()).map(Pattern::quote).toList()));
        this.id = "bpe-" + contentHash(pattern, tokens, mergeRanks, this.specials);
    }

    // ---- encoding

    @Override
    public int[] encode(String text) {
        IntBuffer out = new IntBuffer(Math.max(16, text.length() / 3));
        encodeOrdinary(text, out);
        return out.toArray();
    }

    /** Encodes {@code text}, turning the special-token strings it contains into their ids. */
    public int[] encodeWithSpecials(String text) {
        IntBuffer out = new IntBuffer(Math.max(16, text.length() / 3));
        if (specialSplit == null) {
            encodeOrdinary(text, out);
            return out.toArray();
        }
        Matcher m = specialSplit.matcher(text);
        int start = 0;
        while (m.find()) {
            encodeOrdinary(text.substring(start, m.start()), out);
            out.add(specials.get(m.group()));
            start = m.end();
        }
        encodeOrdinary(text.substring(start), out);
        return out.toArray();
    }

    private void encodeOrdinary(String text, IntBuffer out) {
        Scratch scratch = SCRATCH.get();
        if (cl100kSplit || o200kSplit) { // the hand-written splitters: the regex's pieces, faster
            for (int i = 0, n = text.length(); i < n; ) {
                int end = cl100kSplit ? Cl100kSplitter.end(text, i) : O200kSplitter.end(text, i);
                encodePiece(text, i, end, out, scratch);
                i = end;
            }
            return;
        }
        Matcher m = compiled.matcher(text);
        while (m.find()) encodePiece(text, m.start(), m.end(), out, scratch);
    }

    private void encodePiece(String text, int from, int to, IntBuffer out, Scratch scratch) {
        byte[] buf = scratch.bytes(3 * (to - from));
        int len = utf8(text, from, to, buf);
        int whole = ids.get(buf, 0, len);
        if (whole >= 0) {
            out.add(whole);
            return;
        }
        // natural text repeats its words: remember the merges of recent pieces (per thread, direct-mapped)
        int h = BytesTable.hash(buf, 0, len);
        int[] cached = scratch.cached(this, buf, len, h);
        if (cached == null) {
            int first = out.size();
            merge(buf, len, out, scratch);
            scratch.remember(this, buf, len, h, out.copy(first));
        } else {
            out.addAll(cached);
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Per-thread buffers and a small cache of piece → ids, so that encoding allocates next to nothing. */
    private static final class Scratch {
        private static final int CACHE = 1 << 14;
        private byte[] bytes = new byte[256];
        int[] start = new int[64];
        int[] pairRank = new int[64];
        private final Object[] owners = new Object[CACHE];
        private final byte[][] keys = new byte[CACHE][];
        private final int[][] values = new int[CACHE][];

        byte[] bytes(int need) {
            if (need > bytes.length) bytes = new byte[Math.max(need, bytes.length * 2)];
            return bytes;
        }

        void ensure(int len) {
            if (len + 1 > start.length) {
                start = new int[len * 2 + 1];
                pairRank = new int[len * 2 + 1];
            }
        }

        int[] cached(Object owner, byte[] b, int len, int h) {
            int slot = h & (CACHE - 1);
            byte[] k = keys[slot];
            if (owners[slot] != owner || k == null || k.length != len || !Arrays.equals(k, 0, len, b, 0, len)) return null;
            return values[slot];
        }

        void remember(Object owner, byte[] b, int len, int h, int[] ids) {
            if (len > 64) return;
            int slot = h & (CACHE - 1);
            owners[slot] = owner;
            keys[slot] = Arrays.copyOf(b, len);
            values[slot] = ids;
        }
    }

    /** UTF-8 of {@code s[from, to)} into {@code out} (at least 3 bytes per char); a lone surrogate becomes U+FFFD. */
    private static int utf8(String s, int from, int to, byte[] out) {
        int n = 0;
        for (int i = from; i < to; i++) {
            int c = s.charAt(i);
            if (c < 0x80) {
                out[n++] = (byte) c;
            } else if (c < 0x800) {
                out[n++] = (byte) (0xC0 | c >> 6);
                out[n++] = (byte) (0x80 | c & 0x3F);
            } else {
                if (Character.isHighSurrogate((char) c) && i + 1 < to && Character.isLowSurrogate(s.charAt(i + 1))) {
                    c = Character.toCodePoint((char) c, s.charAt(++i));
                    out[n++] = (byte) (0xF0 | c >> 18);
                    out[n++] = (byte) (0x80 | c >> 12 & 0x3F);
                    out[n++] = (byte) (0x80 | c >> 6 & 0x3F);
                    out[n++] = (byte) (0x80 | c & 0x3F);
                    continue;
                }
                if (Character.isSurrogate((char) c)) c = 0xFFFD;
                out[n++] = (byte) (0xE0 | c >> 12);
                out[n++] = (byte) (0x80 | c >> 6 & 0x3F);
                out[n++] = (byte) (0x80 | c & 0x3F);
            }
        }
        return n;
    }

    private int rank(byte[] b, int off, int len) {
        int r = (ranks == null ? ids : ranks).get(b, off, len);
        return r < 0 ? NONE : r;
    }

    /** tiktoken's merge loop over one piece: repeatedly merge the adjacent pair of lowest rank. */
    private void merge(byte[] b, int len, IntBuffer out, Scratch scratch) {
        scratch.ensure(len);
        int[] start = scratch.start; // part boundaries
        int[] pairRank = scratch.pairRank; // rank of parts i and i+1 merged
        int parts = len;
        for (int i = 0; i <= len; i++) start[i] = i;
        for (int i = 0; i + 1 < parts; i++) pairRank[i] = rank(b, start[i], start[i + 2] - start[i]);
        while (parts > 1) {
            int best = NONE;
            int at = -1;
            for (int i = 0; i + 1 < parts; i++) {
                if (pairRank[i] < best) {
                    best = pairRank[i];
                    at = i;
                }
            }
            if (at < 0) break;
            // parts at and at+1 become one: drop boundary at+1
            System.arraycopy(start, at + 2, start, at + 1, parts - at - 1);
            System.arraycopy(pairRank, at + 2, pairRank, at + 1, Math.max(0, parts - at - 2));
            parts--;
            if (at + 1 < parts) pairRank[at] = rank(b, start[at], start[at + 2] - start[at]);
            if (at > 0) pairRank[at - 1] = rank(b, start[at - 1], start[at + 1] - start[at - 1]);
        }
        for (int i = 0; i < parts; i++) {
            int id = ids.get(b, start[i], start[i + 1] - start[i]);
            if (id < 0) throw new IllegalStateException("no token for a merged part: the vocabulary is inconsistent");
            out.add(id);
        }
    }

    // ---- decoding

    @Override
    public String decode(int[] ids) {
        return new String(decodeBytes(ids), StandardCharsets.UTF_8);
    }

    /** The exact bytes of {@code ids}; special tokens decode to their text. */
    public byte[] decodeBytes(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        for (int t : ids) {
            byte[] b = t >= 0 && t < tokens.length ? tokens[t] : null;
            if (b != null) {
                out.writeBytes(b);
                continue;
            }
            String special = specialText(t);
            if (special == null) throw new IllegalArgumentException("unknown token id " + t);
            out.writeBytes(special.getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }

    private String specialText(int t) {
        for (Map.Entry<String, Integer> e : specials.entrySet()) if (e.getValue() == t) return e.getKey();
        return null;
    }

    // ---- facts

    @Override
    public String id() {
        return id;
    }

    public String name() {
        return name;
    }

    public String pattern() {
        return pattern;
    }

    public Map<String, Integer> specials() {
        return specials;
    }

    @Override
    public int endOfText() {
        Integer eot = specials.get("<|endoftext|>");
        if (eot == null) throw new IllegalStateException(name + " has no <|endoftext|> token");
        return eot;
    }

    @Override
    public int vocabSize() {
        int max = tokens.length - 1;
        for (int s : specials.values()) max = Math.max(max, s);
        return max + 1;
    }

    /**
     * This vocabulary with {@code added} special tokens (those it lacks) at the next ids: the same merges, the same ids
     * for everything it had. A new vocabulary, so a new id.
     */
    public ByteLevelBpe withSpecials(java.util.List<String> added) {
        Map<String, Integer> all = new LinkedHashMap<>(specials);
        int next = vocabSize();
        for (String s : added) if (!all.containsKey(s)) all.put(s, next++);
        if (all.size() == specials.size()) return this;
        return withSpecialsMap(all);
    }

    /** This vocabulary without some of its special tokens (those it has); text encodes as before. */
    public ByteLevelBpe withoutSpecials(java.util.List<String> removed) {
        Map<String, Integer> kept = new LinkedHashMap<>(specials);
        kept.keySet().removeAll(removed);
        if (kept.size() == specials.size()) return this;
        return withSpecialsMap(kept);
    }

    /** The same tokens and merges with these special tokens. */
    private ByteLevelBpe withSpecialsMap(Map<String, Integer> newSpecials) {
        int[] mergeRanks = null;
        if (ranks != null) {
            mergeRanks = new int[tokens.length];
            for (int i = 0; i < tokens.length; i++) if (tokens[i] != null) mergeRanks[i] = ranks.get(tokens[i], 0, tokens[i].length);
        }
        return new ByteLevelBpe(name, pattern, tokens, mergeRanks, newSpecials);
    }

    /** Token bytes by id (null where the id is a special token or unused). */
    byte[] tokenBytes(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    int tokenCount() {
        return tokens.length;
    }

    /** The merge rank of a token (its id for tiktoken vocabularies). */
    int mergeRank(int id) {
        return ranks == null ? id : ranks.get(tokens[id], 0, tokens[id].length);
    }

    /**
     * The two tokens whose merge makes token {@code id}: BPE on its bytes with every merge of a rank below its own.
     * Null for single bytes.
     */
    int[] mergeParents(int id) {
        byte[] b = tokens[id];
        if (b.length < 2) return null;
        int limit = mergeRank(id);
        List<int[]> parts = new ArrayList<>();
        for (int i = 0; i < b.length; i++) parts.add(new int[] {i, i + 1});
        while (parts.size() > 2) {
            int best = NONE;
            int at = -1;
            for (int i = 0; i + 1 < parts.size(); i++) {
                int r = rank(b, parts.get(i)[0], parts.get(i + 1)[1] - parts.get(i)[0]);
                if (r < limit && r < best) {
                    best = r;
                    at = i;
                }
            }
            if (at < 0) break;
            parts.set(at, new int[] {parts.get(at)[0], parts.get(at + 1)[1]});
            parts.remove(at + 1);
        }
        if (parts.size() != 2) throw new IllegalStateException("token " + id + " is not the merge of two tokens");
        int left = ids.get(b, parts.get(0)[0], parts.get(0)[1] - parts.get(0)[0]);
        int right = ids.get(b, parts.get(1)[0], parts.get(1)[1] - parts.get(1)[0]);
        return new int[] {left, right};
    }

    /**
     * Hashes what decides the ids: the pattern, every token's id and bytes, the order of the merges (not the numbers
     * a file format gives their ranks) and the specials.
     */
    private static String contentHash(String pattern, byte[][] tokens, int[] ranks, Map<String, Integer> specials) {
        MessageDigest sha = DocumentIds.sha256();
        sha.update(pattern.getBytes(StandardCharsets.UTF_8));
        List<Integer> merged = new ArrayList<>();
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] == null) continue;
            sha.update(Integer.toString(i).getBytes(StandardCharsets.UTF_8));
            sha.update((byte) ':');
            sha.update(Base64.getEncoder().encode(tokens[i]));
            sha.update((byte) '\n');
            if (tokens[i].length > 1) merged.add(i);
        }
        merged.sort(java.util.Comparator.comparingInt(i -> ranks == null ? i : ranks[i]));
        for (int i : merged) sha.update(Integer.toString(i).getBytes(StandardCharsets.UTF_8));
        specials.entrySet().stream().sorted(Map.Entry.comparingByValue()).forEach(e -> {
            sha.update(e.getKey().getBytes(StandardCharsets.UTF_8));
            sha.update(Integer.toString(e.getValue()).getBytes(StandardCharsets.UTF_8));
        });
        return HexFormat.of().formatHex(sha.digest(), 0, 6);
    }

    @Override
    public String toString() {
        return name + " (" + id + ", " + vocabSize() + " tokens)";
    }

    /** A growable int array. */
    static final class IntBuffer {
        private int[] data;
        private int size;

        IntBuffer(int capacity) {
            data = new int[capacity];
        }

        void add(int v) {
            if (size == data.length) data = Arrays.copyOf(data, size * 2);
            data[size++] = v;
        }

        int[] toArray() {
            return Arrays.copyOf(data, size);
        }

        int size() {
            return size;
        }

        int[] copy(int from) {
            return Arrays.copyOfRange(data, from, size);
        }

        void addAll(int[] values) {
            if (size + values.length > data.length) data = Arrays.copyOf(data, Math.max(data.length * 2, size + values.length));
            System.arraycopy(values, 0, data, size, values.length);
            size += values.length;
        }
    }
}
