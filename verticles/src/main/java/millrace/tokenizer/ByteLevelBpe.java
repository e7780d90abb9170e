package millrace.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import millrace.protocol.DocumentIds;

/**
 * Byte-level BPE, as in GPT-2, tiktoken and Hugging Face's byte-level BPE models: text is split into pieces by a
 * regular expression, each piece's UTF-8 bytes start as single-byte tokens, and the adjacent pair of parts whose merge
 * ranks lowest (the leftmost of equals) is merged until no pair merges. Which pairs merge, at what rank, is one of two
 * rules, both held as one table of id pairs ({@link MergeTable}):
 * <ul>
 * <li>tiktoken's (rank files, vocabularies Millrace trains): any two parts that make a token merge, at that token's rank,
 * which is its id. The table lists every split of every token into two tokens.
 * <li>Hugging Face's ({@code tokenizer.json}, GPT-2's {@code vocab.bpe}): only the listed merges, ranked by their place in
 * the list.
 * </ul>
 *
 * <p>Added tokens ({@code <|endoftext|>}, chat markers, Qwen's {@code <think>}) have their own ids and only
 * {@link #encodeWithSpecials} produces them; those flagged special are also {@link #specials()}. A vocabulary may
 * normalize text first (Qwen's NFC), and may take a piece that is a whole token for that token without merging
 * (tiktoken always does; Hugging Face where {@code ignore_merges} is set).
 *
 * <p>Its {@link #id()} is a hash of what decides the ids, so two identical vocabularies loaded from different formats
 * share an id: the pattern, the tokens, the order of their ranks and the special tokens; and only where a vocabulary
 * has them (no older one did, so their ids stay as they were), a merge list that this order does not imply, the
 * normalization, tokens that {@code ignore_merges: false} keeps a whole piece from being, non-special added tokens, and
 * the begin-of-text token.
 */
public final class ByteLevelBpe implements TextTokenizer {
    private static final int NONE = Integer.MAX_VALUE;
    /** The tokens that end a document, in the order they are looked for: GPT-2's and most others', Llama 3's. */
    private static final List<String> END_OF_TEXT = List.of("<|endoftext|>", "<|end_of_text|>");

    /** What a vocabulary may say beyond its tokens, merges, pattern and added tokens, as a {@code tokenizer.json} does. */
    record Options(Normalizer.Form normalization, boolean ignoreMerges, OptionalInt beginOfText) {
        /** tiktoken's: the text as it comes, a piece that is a token is that token, nothing put before the text. */
        static final Options TIKTOKEN = new Options(null, true, OptionalInt.empty());
    }

    /** A token outside BPE, found verbatim in the text by {@link #encodeWithSpecials}; {@code special} as Hugging Face flags it. */
    record AddedToken(String content, int id, boolean special) {}

    /** How text is cut into pieces: the hand-written splitters cut exactly where their patterns do, faster. */
    private enum Splitter {
        REGEX, CL100K, QWEN2, O200K
    }

    private final String name;
    private final String pattern;
    private final Pattern compiled;
    private final Splitter splitter;
    private final Options options;
    private final byte[][] tokens; // by id; null for ids of added tokens
    private final BytesTable ids;
    private final int[] byteIds;
    /** The listed merges as id pairs in rank order (left, right, left, right, ...); null under tiktoken's rule. */
    private final int[] mergePairs;
    private final MergeTable merges;
    /** Per id, the rank of the first merge that makes the token (-1 for single bytes, NONE for none); null: the id. */
    private final int[] tokenRanks;
    /** Whether the tokens and the order of their ranks imply the merges (always under tiktoken's rule). */
    private final boolean ranksImplyMerges;
    /** Tokens that a piece is not taken for whole, because merging their bytes does not end in them; null: none. */
    private final boolean[] notWhole;
    private final AddedTokens added;
    private final String id;

    /** A vocabulary under tiktoken's rule (its ids are its ranks) with these special tokens. */
    ByteLevelBpe(String name, String pattern, byte[][] tokens, Map<String, Integer> specials) {
        this(name, pattern, tokens, null, specials.entrySet().stream()
                .map(e -> new AddedToken(e.getKey(), e.getValue(), true)).toList(), Options.TIKTOKEN);
    }

    /**
     * @param tokens token bytes by id (null for the ids of added tokens)
     * @param mergePairs the merges as id pairs in rank order, no pair twice (Hugging Face's rule); null for tiktoken's
     */
    ByteLevelBpe(String name, String pattern, byte[][] tokens, int[] mergePairs, List<AddedToken> added, Options options) {
        this.name = name;
        this.pattern = pattern;
        this.compiled = Pretokenizer.compile(pattern);
        this.splitter = pattern.equals(Pretokenizer.CL100K) ? Splitter.CL100K
                : pattern.equals(Pretokenizer.QWEN2) ? Splitter.QWEN2
                : pattern.equals(Pretokenizer.O200K) ? Splitter.O200K : Splitter.REGEX;
        this.options = options;
        this.tokens = tokens;
        this.ids = new BytesTable(tokens.length);
        for (int i = 0; i < tokens.length; i++) if (tokens[i] != null) ids.put(tokens[i], i);
        this.byteIds = new int[256];
        for (int b = 0; b < 256; b++) {
            byteIds[b] = ids.get(new byte[] {(byte) b}, 0, 1);
            if (byteIds[b] < 0) throw new IllegalArgumentException("byte " + b + " has no token");
        }
        this.mergePairs = mergePairs;
        if (mergePairs == null) {
            this.tokenRanks = null;
            this.merges = everySplit();
            this.ranksImplyMerges = true;
        } else {
            int[] made = tokensMade(mergePairs);
            this.tokenRanks = firstMergeRanks(made);
            this.merges = new MergeTable(made.length);
            for (int i = 0; i < made.length; i++) merges.put(mergePairs[2 * i], mergePairs[2 * i + 1], i, made[i]);
            this.ranksImplyMerges = everySplitListedByToken(made) || oneMergePerTokenAsRanksSplitIt(made);
        }
        this.notWhole = options.ignoreMerges() ? null : notReachedByMerging();
        this.added = new AddedTokens(added);
        this.id = "bpe-" + contentHash();
    }

    /** {@code base} with other added tokens: the same tokens, merges and options. */
    private ByteLevelBpe(ByteLevelBpe base, List<AddedToken> added) {
        this.name = base.name;
        this.pattern = base.pattern;
        this.compiled = base.compiled;
        this.splitter = base.splitter;
        this.options = base.options;
        this.tokens = base.tokens;
        this.ids = base.ids;
        this.byteIds = base.byteIds;
        this.mergePairs = base.mergePairs;
        this.merges = base.merges;
        this.tokenRanks = base.tokenRanks;
        this.ranksImplyMerges = base.ranksImplyMerges;
        this.notWhole = base.notWhole;
        this.added = new AddedTokens(added);
        this.id = "bpe-" + contentHash();
    }

    /** tiktoken's rule as a table: every split of every token into two tokens merges into it, at its rank (its id). */
    private MergeTable everySplit() {
        MergeTable table = new MergeTable(2 * tokens.length);
        for (int t = 0; t < tokens.length; t++) {
            byte[] b = tokens[t];
            if (b == null) continue;
            for (int k = 1; k < b.length; k++) {
                int left = ids.get(b, 0, k);
                int right = left < 0 ? -1 : ids.get(b, k, b.length - k);
                if (right >= 0) table.put(left, right, t, t);
            }
        }
        return table;
    }

    /** The token each listed merge makes. */
    private int[] tokensMade(int[] pairs) {
        int[] made = new int[pairs.length / 2];
        for (int i = 0; i < made.length; i++) {
            byte[] left = tokens[pairs[2 * i]], right = tokens[pairs[2 * i + 1]];
            byte[] joined = Arrays.copyOf(left, left.length + right.length);
            System.arraycopy(right, 0, joined, left.length, right.length);
            made[i] = ids.get(joined, 0, joined.length);
            if (made[i] < 0) throw new IllegalArgumentException("merge " + i + " makes no token");
        }
        return made;
    }

    private int[] firstMergeRanks(int[] made) {
        int[] ranks = new int[tokens.length];
        Arrays.fill(ranks, NONE);
        for (int b : byteIds) ranks[b] = -1; // single bytes are never made by a merge
        for (int i = 0; i < made.length; i++) if (ranks[made[i]] == NONE) ranks[made[i]] = i;
        return ranks;
    }

    /**
     * Whether the list holds every split of every token into two tokens, nothing else, each token's together, as
     * tiktoken vocabularies converted for Hugging Face do (Llama 3): then it merges as tiktoken's rule does on the rank
     * order, but for which of two equal-ranked pairs goes first, which the result does not depend on.
     */
    private boolean everySplitListedByToken(int[] made) {
        for (int i = 1; i < made.length; i++) if (made[i] != made[i - 1] && tokenRanks[made[i]] != i) return false;
        long splits = 0; // every listed pair is a split of the token it makes, and none is listed twice: count them
        for (byte[] b : tokens) {
            if (b == null) continue;
            for (int k = 1; k < b.length; k++) if (ids.get(b, 0, k) >= 0 && ids.get(b, k, b.length - k) >= 0) splits++;
        }
        return splits == made.length;
    }

    /**
     * Whether each token is made by one merge, the split into two that tiktoken's rule reaches on its bytes with the
     * merges ranked before it, as BPE training and Millrace's own {@code tokenizer.json} (Qwen's too) have it: then the
     * list merges as tiktoken's rule does on the rank order.
     */
    private boolean oneMergePerTokenAsRanksSplitIt(int[] made) {
        for (int i = 0; i < made.length; i++) if (tokenRanks[made[i]] != i) return false;
        for (int i = 0; i < made.length; i++) {
            if (splitBelow(tokens[made[i]], i) != tokens[mergePairs[2 * i]].length) return false;
        }
        return true;
    }

    /**
     * Without {@code ignore_merges} a piece that is a token is that token only where merging its bytes ends in it; the
     * tokens where it does not (null when there are none).
     */
    private boolean[] notReachedByMerging() {
        boolean[] out = null;
        IntBuffer parts = new IntBuffer(16);
        Scratch scratch = new Scratch();
        for (int t = 0; t < tokens.length; t++) {
            byte[] b = tokens[t];
            if (b == null || b.length < 2) continue;
            parts.clear();
            merge(b, b.length, parts, scratch);
            if (parts.size() != 1) { // one part has the token's bytes: it is the token
                if (out == null) out = new boolean[tokens.length];
                out[t] = true;
            }
        }
        return out;
    }

    // ---- encoding

    /** Ids of {@code text} as one document: normalized as the vocabulary says, added tokens not recognised. */
    @Override
    public int[] encode(String text) {
        IntBuffer out = new IntBuffer(Math.max(16, text.length() / 3));
        encodeOrdinary(normalized(text), out);
        return out.toArray();
    }

    /**
     * Encodes {@code text}, turning the added tokens it contains (special or not) into their ids, as Hugging Face
     * {@code tokenizers} does: at each place the longest added token there, the text between them normalized and encoded.
     */
    public int[] encodeWithSpecials(String text) {
        IntBuffer out = new IntBuffer(Math.max(16, text.length() / 3));
        int start = 0;
        for (int at = added.find(text, 0); at >= 0; at = added.find(text, start)) {
            String token = added.longestAt(text, at);
            encodeOrdinary(normalized(text.substring(start, at)), out);
            out.add(added.all.get(token));
            start = at + token.length();
        }
        encodeOrdinary(normalized(start == 0 ? text : text.substring(start)), out);
        return out.toArray();
    }

    /**
     * The text in the vocabulary's normal form. Checking is cheaper than normalizing text that already is (most text),
     * and text below U+0300, where the combining marks start, is NFC without asking (no such character changes under
     * NFC, nor composes with another below it): on the bench's real text that scan and the check where it fails run at
     * 1.7 GB/s, the check alone at 0.65, normalizing every document at 0.15.
     */
    private String normalized(String text) {
        Normalizer.Form form = options.normalization();
        if (form == null || form == Normalizer.Form.NFC && allBelow(text, 0x300) || Normalizer.isNormalized(text, form)) return text;
        return Normalizer.normalize(text, form);
    }

    private static boolean allBelow(String text, int limit) {
        for (int i = 0, n = text.length(); i < n; i++) if (text.charAt(i) >= limit) return false;
        return true;
    }

    private void encodeOrdinary(String text, IntBuffer out) {
        Scratch scratch = SCRATCH.get();
        if (splitter == Splitter.REGEX) {
            Matcher m = compiled.matcher(text);
            while (m.find()) encodePiece(text, m.start(), m.end(), out, scratch);
            return;
        }
        for (int i = 0, n = text.length(); i < n; ) { // the hand-written splitters: the regex's pieces, faster
            int end = switch (splitter) {
                case CL100K -> Cl100kSplitter.end(text, i, 3);
                case QWEN2 -> Cl100kSplitter.end(text, i, 1);
                default -> O200kSplitter.end(text, i);
            };
            encodePiece(text, i, end, out, scratch);
            i = end;
        }
    }

    private void encodePiece(String text, int from, int to, IntBuffer out, Scratch scratch) {
        byte[] buf = scratch.bytes(3 * (to - from));
        int len = utf8(text, from, to, buf);
        int whole = ids.get(buf, 0, len);
        if (whole >= 0 && (notWhole == null || !notWhole[whole])) {
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
        int[] part = new int[64];
        int[] pairRank = new int[64];
        int[] pairMerged = new int[64];
        private final Object[] owners = new Object[CACHE];
        private final byte[][] keys = new byte[CACHE][];
        private final int[][] values = new int[CACHE][];

        byte[] bytes(int need) {
            if (need > bytes.length) bytes = new byte[Math.max(need, bytes.length * 2)];
            return bytes;
        }

        void ensure(int len) {
            if (len + 1 > part.length) {
                part = new int[len * 2 + 1];
                pairRank = new int[len * 2 + 1];
                pairMerged = new int[len * 2 + 1];
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

    /** The merge loop over one piece: repeatedly merge the adjacent pair of lowest rank, the leftmost of equals. */
    private void merge(byte[] b, int len, IntBuffer out, Scratch scratch) {
        scratch.ensure(len);
        int[] part = scratch.part; // the parts' token ids
        int[] pairRank = scratch.pairRank; // the rank of merging parts i and i+1, NONE if they do not merge
        int[] pairMerged = scratch.pairMerged; // the token that merge makes
        int parts = len;
        for (int i = 0; i < len; i++) part[i] = byteIds[b[i] & 0xFF];
        for (int i = 0; i + 1 < parts; i++) pairRank[i] = pairRank(part, i, pairMerged);
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
            // parts at and at+1 become one: the parts after them, and the pairs after the next one, move down one
            part[at] = pairMerged[at];
            int after = parts - at - 2;
            System.arraycopy(part, at + 2, part, at + 1, after);
            if (after > 1) {
                System.arraycopy(pairRank, at + 2, pairRank, at + 1, after - 1);
                System.arraycopy(pairMerged, at + 2, pairMerged, at + 1, after - 1);
            }
            parts--;
            if (at + 1 < parts) pairRank[at] = pairRank(part, at, pairMerged);
            if (at > 0) pairRank[at - 1] = pairRank(part, at - 1, pairMerged);
        }
        for (int i = 0; i < parts; i++) out.add(part[i]);
    }

    private int pairRank(int[] part, int i, int[] pairMerged) {
        long merge = merges.find(part[i], part[i + 1]);
        if (merge == MergeTable.NONE) return NONE;
        pairMerged[i] = MergeTable.merged(merge);
        return MergeTable.rank(merge);
    }

    // ---- decoding

    @Override
    public String decode(int[] ids) {
        return new String(decodeBytes(ids), StandardCharsets.UTF_8);
    }

    /** The exact bytes of {@code ids}; added tokens decode to their text. */
    public byte[] decodeBytes(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        for (int t : ids) {
            byte[] b = t >= 0 && t < tokens.length ? tokens[t] : null;
            if (b != null) {
                out.writeBytes(b);
                continue;
            }
            String text = added.textById.get(t);
            if (text == null) throw new IllegalArgumentException("unknown token id " + t);
            out.writeBytes(text.getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
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

    /** The added tokens flagged special, text → id, in the order the vocabulary gives them. */
    public Map<String, Integer> specials() {
        return added.specials;
    }

    /** Every added token, special or not (Qwen's {@code <think>} is not), text → id: what encodeWithSpecials recognises. */
    public Map<String, Integer> addedTokens() {
        return added.all;
    }

    /** The Unicode normal form text is put in before it is split (Qwen's NFC), if any. */
    public Optional<Normalizer.Form> normalization() {
        return Optional.ofNullable(options.normalization());
    }

    /**
     * The token Hugging Face puts before the text when asked to add special tokens (its post-processor's template:
     * Llama 3.1's {@code <|begin_of_text|>}), if any. Encoding never adds it: a caller that wants it prepends it.
     */
    @Override
    public OptionalInt beginOfText() {
        return options.beginOfText();
    }

    /** The id that ends a document: {@code <|endoftext|>} (GPT-2, tiktoken's, Qwen, SmolLM, trained ones) or Llama 3's {@code <|end_of_text|>}. */
    @Override
    public int endOfText() {
        for (String text : END_OF_TEXT) {
            Integer eot = added.specials.get(text);
            if (eot != null) return eot;
        }
        throw new IllegalStateException(name + " has no end-of-text token (" + String.join(" or ", END_OF_TEXT) + ")");
    }

    @Override
    public int vocabSize() {
        int max = tokens.length - 1;
        for (int s : added.all.values()) max = Math.max(max, s);
        return max + 1;
    }

    /** Whether a piece that is a whole token is that token without merging (Hugging Face's {@code ignore_merges}). */
    public boolean ignoresMerges() {
        return options.ignoreMerges();
    }

    /** Added tokens in the order the vocabulary gives them. */
    List<AddedToken> addedTokenList() {
        return added.list;
    }

    /**
     * This vocabulary with {@code names} as special tokens (those it lacks) at the next ids: the same merges, the same
     * ids for everything it had. A new vocabulary, so a new id.
     */
    public ByteLevelBpe withSpecials(List<String> names) {
        List<AddedToken> all = new ArrayList<>(added.list);
        Map<String, Integer> have = new HashMap<>(added.all);
        int next = vocabSize();
        for (String s : names) {
            if (have.putIfAbsent(s, next) == null) all.add(new AddedToken(s, next++, true));
        }
        return all.size() == added.list.size() ? this : new ByteLevelBpe(this, all);
    }

    /** This vocabulary without some of its special tokens (those it has); text encodes as before. */
    public ByteLevelBpe withoutSpecials(List<String> names) {
        List<AddedToken> kept = added.list.stream().filter(t -> !(t.special() && names.contains(t.content()))).toList();
        return kept.size() == added.list.size() ? this : new ByteLevelBpe(this, kept);
    }

    /** Token bytes by id (null where the id is an added token or unused). */
    byte[] tokenBytes(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    int tokenCount() {
        return tokens.length;
    }

    /** The rank of a token: the place of the first merge that makes it, or under tiktoken's rule its id. */
    private int tokenRank(int id) {
        return tokenRanks == null ? id : tokenRanks[id];
    }

    private int rankOfBytes(byte[] b, int off, int len) {
        int t = ids.get(b, off, len);
        return t < 0 ? NONE : tokenRank(t);
    }

    /**
     * The merges in rank order, as id pairs: the listed ones; under tiktoken's rule, for every token made by merging,
     * in rank order, the two tokens tiktoken's rule makes it from — the list Hugging Face needs to give the same ids.
     */
    int[][] mergeList() {
        if (mergePairs != null) {
            int[][] out = new int[mergePairs.length / 2][];
            for (int i = 0; i < out.length; i++) out[i] = new int[] {mergePairs[2 * i], mergePairs[2 * i + 1]};
            return out;
        }
        List<Integer> merged = new ArrayList<>();
        for (int t = 0; t < tokens.length; t++) if (tokens[t] != null && tokens[t].length > 1) merged.add(t);
        merged.sort(Comparator.comparingInt(this::tokenRank));
        int[][] out = new int[merged.size()][];
        for (int i = 0; i < out.length; i++) {
            int t = merged.get(i);
            byte[] b = tokens[t];
            int k = splitBelow(b, tokenRank(t));
            if (k < 0) throw new IllegalStateException("token " + t + " is not the merge of two tokens");
            out[i] = new int[] {ids.get(b, 0, k), ids.get(b, k, b.length - k)};
        }
        return out;
    }

    /**
     * tiktoken's rule on {@code b} with only the merges ranked below {@code limit}: where it leaves two parts, the
     * length of the first; -1 where it leaves more.
     */
    private int splitBelow(byte[] b, int limit) {
        int[] start = new int[b.length + 1];
        for (int i = 0; i <= b.length; i++) start[i] = i;
        int parts = b.length;
        while (parts > 2) {
            int best = NONE;
            int at = -1;
            for (int i = 0; i + 1 < parts; i++) {
                int r = rankOfBytes(b, start[i], start[i + 2] - start[i]);
                if (r < limit && r < best) {
                    best = r;
                    at = i;
                }
            }
            if (at < 0) return -1;
            System.arraycopy(start, at + 2, start, at + 1, parts - at - 1);
            parts--;
        }
        return parts == 2 ? start[1] : -1;
    }

    /** The hash {@link #id()} is made of; see the class comment for what enters it and when. */
    private String contentHash() {
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
        merged.sort(Comparator.comparingInt(this::tokenRank));
        for (int i : merged) sha.update(Integer.toString(i).getBytes(StandardCharsets.UTF_8));
        added.specials.entrySet().stream().sorted(Map.Entry.comparingByValue()).forEach(e -> {
            sha.update(e.getKey().getBytes(StandardCharsets.UTF_8));
            sha.update(Integer.toString(e.getValue()).getBytes(StandardCharsets.UTF_8));
        });
        // what no vocabulary had before Hugging Face's open models were read, only where a vocabulary has it
        if (!ranksImplyMerges) {
            sha.update("merges:".getBytes(StandardCharsets.UTF_8));
            for (int p : mergePairs) sha.update((Integer.toString(p) + ',').getBytes(StandardCharsets.UTF_8));
        }
        if (options.normalization() != null) sha.update(("normalizer:" + options.normalization()).getBytes(StandardCharsets.UTF_8));
        if (notWhole != null) sha.update("ignore_merges:false".getBytes(StandardCharsets.UTF_8));
        added.list.stream().filter(t -> !t.special()).sorted(Comparator.comparingInt(AddedToken::id))
                .forEach(t -> sha.update(("added:" + t.content() + '=' + t.id() + ';').getBytes(StandardCharsets.UTF_8)));
        options.beginOfText().ifPresent(b -> sha.update(("begin_of_text:" + b).getBytes(StandardCharsets.UTF_8)));
        return HexFormat.of().formatHex(sha.digest(), 0, 6);
    }

    @Override
    public String toString() {
        return name + " (" + id + ", " + vocabSize() + " tokens)";
    }

    /**
     * The added tokens, and how encodeWithSpecials finds them in text as Hugging Face does: the leftmost, and the
     * longest there. Most characters start none, so a scan asks one bit per character.
     */
    private static final class AddedTokens {
        final List<AddedToken> list;
        final Map<String, Integer> specials;
        final Map<String, Integer> all;
        final Map<Integer, String> textById = new HashMap<>();
        private final long[] startsSome = new long[1024]; // a bit per char: whether an added token starts with it
        private final Map<Character, List<String>> byFirstChar = new HashMap<>(); // longest first

        AddedTokens(List<AddedToken> list) {
            this.list = List.copyOf(list);
            Map<String, Integer> specials = new LinkedHashMap<>();
            Map<String, Integer> all = new LinkedHashMap<>();
            for (AddedToken t : list) {
                if (t.content().isEmpty()) throw new IllegalArgumentException("an added token (id " + t.id() + ") is empty");
                all.put(t.content(), t.id());
                if (t.special()) specials.put(t.content(), t.id());
                textById.put(t.id(), t.content());
                char c = t.content().charAt(0);
                startsSome[c >>> 6] |= 1L << c;
                byFirstChar.computeIfAbsent(c, k -> new ArrayList<>()).add(t.content());
            }
            byFirstChar.values().forEach(l -> l.sort(Comparator.comparingInt(String::length).reversed()));
            this.specials = Collections.unmodifiableMap(specials);
            this.all = Collections.unmodifiableMap(all);
        }

        /** Where the first added token in {@code text} at or after {@code from} starts, or -1. */
        int find(String text, int from) {
            if (list.isEmpty()) return -1;
            for (int i = from, n = text.length(); i < n; i++) {
                char c = text.charAt(i);
                if ((startsSome[c >>> 6] & 1L << c) != 0 && longestAt(text, i) != null) return i;
            }
            return -1;
        }

        /** The longest added token that starts at {@code at}, or null. */
        String longestAt(String text, int at) {
            List<String> candidates = byFirstChar.get(text.charAt(at));
            if (candidates == null) return null;
            for (String s : candidates) if (text.startsWith(s, at)) return s;
            return null;
        }
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

        void clear() {
            size = 0;
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
