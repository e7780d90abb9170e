package millrace.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import millrace.protocol.JsonSerde;

/**
 * Reading and writing vocabularies: tiktoken rank files (the ones bundled in JTokkit, or any {@code .tiktoken}),
 * GPT-2's {@code encoder.json} + {@code vocab.bpe}, and Hugging Face {@code tokenizer.json} (byte-level BPE: GPT-2,
 * Llama 3, Qwen, SmolLM2), which is also what Millrace writes. A file Millrace cannot read exactly as Hugging Face does
 * is refused with an error naming the file and the field.
 */
public final class Vocabularies {
    private Vocabularies() {}

    /** OpenAI's published vocabularies by name: r50k_base (GPT-2), cl100k_base, o200k_base. */
    public static ByteLevelBpe builtin(String name) {
        return switch (name) {
            case "r50k", "r50k_base", "gpt2" -> tiktokenResource("r50k_base", Pretokenizer.GPT2,
                    Map.of("<|endoftext|>", 50256));
            case "cl100k", "cl100k_base" -> tiktokenResource("cl100k_base", Pretokenizer.CL100K, ordered(
                    "<|endoftext|>", 100257, "<|fim_prefix|>", 100258, "<|fim_middle|>", 100259,
                    "<|fim_suffix|>", 100260, "<|endofprompt|>", 100276));
            case "o200k", "o200k_base" -> tiktokenResource("o200k_base", Pretokenizer.O200K, ordered(
                    "<|endoftext|>", 199999, "<|endofprompt|>", 200018));
            default -> throw new IllegalArgumentException("unknown vocabulary '" + name + "' (r50k, cl100k, o200k)");
        };
    }

    private static Map<String, Integer> ordered(Object... kv) {
        Map<String, Integer> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], (Integer) kv[i + 1]);
        return m;
    }

    private static ByteLevelBpe tiktokenResource(String name, String pattern, Map<String, Integer> specials) {
        try (InputStream in = Vocabularies.class.getResourceAsStream("/com/knuddels/jtokkit/" + name + ".tiktoken")) {
            if (in == null) throw new IllegalStateException(name + ".tiktoken is not on the class path (JTokkit)");
            return tiktoken(name, in, pattern, specials);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A tiktoken rank file: one {@code base64(token) rank} per line; the rank is the id. */
    public static ByteLevelBpe tiktoken(String name, InputStream in, String pattern, Map<String, Integer> specials)
            throws IOException {
        List<byte[]> tokens = new ArrayList<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
        for (String line; (line = r.readLine()) != null; ) {
            if (line.isBlank()) continue;
            int space = line.indexOf(' ');
            int rank = Integer.parseInt(line.substring(space + 1).trim());
            while (tokens.size() <= rank) tokens.add(null);
            tokens.set(rank, Base64.getDecoder().decode(line.substring(0, space)));
        }
        return new ByteLevelBpe(name, pattern, tokens.toArray(byte[][]::new), specials);
    }

    /** Reads a vocabulary from a file: {@code tokenizer.json}, or a {@code .tiktoken} file with the GPT-2 pattern. */
    public static ByteLevelBpe read(Path file) throws IOException {
        String name = file.getFileName().toString();
        if (name.endsWith(".tiktoken")) {
            try (InputStream in = Files.newInputStream(file)) {
                return tiktoken(name, in, Pretokenizer.GPT2, Map.of());
            }
        }
        return huggingFace(JsonSerde.MAPPER.readTree(file.toFile()), name, file.toString());
    }

    /**
     * GPT-2's original files: {@code encoder.json} (token → id) and {@code vocab.bpe} (merges, in rank order). GPT-2's
     * {@code encoder.py} merges every piece, whole tokens too, as Hugging Face does without {@code ignore_merges}.
     */
    public static ByteLevelBpe gpt2(Path encoderJson, Path vocabBpe) throws IOException {
        JsonNode encoder = JsonSerde.MAPPER.readTree(encoderJson.toFile());
        ArrayNode merges = JsonSerde.MAPPER.createArrayNode();
        for (String line : Files.readAllLines(vocabBpe, StandardCharsets.UTF_8)) {
            if (line.startsWith("#version") || line.isBlank()) continue;
            merges.add(line);
        }
        List<ByteLevelBpe.AddedToken> specials = new ArrayList<>();
        if (encoder.has("<|endoftext|>")) specials.add(new ByteLevelBpe.AddedToken("<|endoftext|>", encoder.get("<|endoftext|>").asInt(), true));
        return build("gpt2", vocabBpe.toString(), Pretokenizer.GPT2, encoder, merges, specials,
                new ByteLevelBpe.Options(null, false, OptionalInt.empty()));
    }

    /**
     * A Hugging Face {@code tokenizer.json} with a byte-level BPE model, as GPT-2, Llama 3, Qwen2/2.5/3, SmolLM2 and
     * Millrace write it. What it reads, and refuses with an error naming the field:
     * <ul>
     * <li>{@code normalizer}: none, NFC, or a Sequence of those;
     * <li>{@code pre_tokenizer}: ByteLevel with its own (GPT-2's) regex, or a Sequence of a Split by a regex (Isolated)
     * and ByteLevel without one; no prefix space;
     * <li>{@code model}: BPE without byte fallback, dropout, unknown token or word affixes; merges as {@code "a b"} or
     * {@code ["a", "b"]}; {@code ignore_merges};
     * <li>{@code added_tokens}, special or not, without stripping or whole-word matching;
     * <li>{@code post_processor}: none, ByteLevel, or a template that puts at most one token before the text and none
     * after it ({@link ByteLevelBpe#beginOfText()}), or a Sequence of those.
     * </ul>
     * The decoder is not read: Millrace decodes to the exact bytes of the tokens.
     */
    public static ByteLevelBpe huggingFace(JsonNode json, String name) {
        return huggingFace(json, name, name);
    }

    /** {@link #huggingFace(JsonNode, String)}, its errors naming {@code source}. */
    private static ByteLevelBpe huggingFace(JsonNode json, String name, String source) {
        JsonNode model = json.path("model");
        if (!model.isObject()) throw bad(source, "model", "is missing: not a tokenizer.json");
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) throw bad(source, "model.type", "is '" + type + "': Millrace reads byte-level BPE only");
        if (!model.path("vocab").isObject()) throw bad(source, "model.vocab", "is missing");
        if (!model.path("merges").isArray()) throw bad(source, "model.merges", "is missing");
        if (model.path("byte_fallback").asBoolean(false)) {
            throw bad(source, "model.byte_fallback", "is true: Millrace reads byte-level BPE, whose every byte is a token");
        }
        for (String field : List.of("unk_token", "dropout")) {
            if (!model.path(field).isMissingNode() && !model.path(field).isNull()) {
                throw bad(source, "model." + field, "is " + model.get(field) + ": Millrace reads byte-level BPE without one");
            }
        }
        for (String field : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
            if (!model.path(field).asText("").isEmpty()) {
                throw bad(source, "model." + field, "is " + model.get(field) + ": Millrace reads byte-level BPE without one");
            }
        }
        Normalizer.Form normalization = normalization(json.get("normalizer"), source, "normalizer");
        List<ByteLevelBpe.AddedToken> added = addedTokens(json.path("added_tokens"), normalization != null, source);
        String pattern = splitPattern(json.get("pre_tokenizer"), source);
        OptionalInt beginOfText = beginOfText(json.get("post_processor"), source, "post_processor");
        var options = new ByteLevelBpe.Options(normalization, model.path("ignore_merges").asBoolean(false), beginOfText);
        ByteLevelBpe bpe = build(name, source, pattern, model.get("vocab"), model.get("merges"), added, options);
        if (beginOfText.isPresent() && bpe.tokenBytes(beginOfText.getAsInt()) == null
                && !bpe.addedTokens().containsValue(beginOfText.getAsInt())) {
            throw bad(source, "post_processor", "puts id " + beginOfText.getAsInt() + " before the text, which is no token");
        }
        return bpe;
    }

    private static IllegalArgumentException bad(String source, String field, String what) {
        return new IllegalArgumentException(source + ": " + field + " " + what);
    }

    /** The normal form a normalizer puts text in: none, NFC, or a Sequence of those (NFC twice is NFC). */
    private static Normalizer.Form normalization(JsonNode normalizer, String source, String field) {
        if (normalizer == null || normalizer.isNull()) return null;
        String type = normalizer.path("type").asText();
        switch (type) {
            case "NFC" -> {
                return Normalizer.Form.NFC;
            }
            case "Sequence" -> {
                Normalizer.Form form = null;
                JsonNode steps = normalizer.path("normalizers");
                for (int i = 0; i < steps.size(); i++) {
                    Normalizer.Form f = normalization(steps.get(i), source, field + ".normalizers[" + i + "]");
                    if (f != null) form = f;
                }
                return form;
            }
            default -> throw bad(source, field + ".type", "is '" + type + "': Millrace reads no normalizer, NFC, or a Sequence of those");
        }
    }

    /**
     * The added tokens. Hugging Face finds them in the text before anything else, each exactly as written where
     * {@code lstrip}, {@code rstrip} and {@code single_word} are false (as in every file Millrace reads); a token
     * {@code normalized} would be looked for in normalized text, which only matters where there is a normalizer.
     */
    private static List<ByteLevelBpe.AddedToken> addedTokens(JsonNode list, boolean normalizes, String source) {
        List<ByteLevelBpe.AddedToken> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode t = list.get(i);
            String field = "added_tokens[" + i + "]";
            if (!t.path("id").canConvertToInt() || !t.path("content").isTextual()) throw bad(source, field, "needs an id and a content");
            String content = t.get("content").asText();
            for (String flag : List.of("lstrip", "rstrip", "single_word")) {
                if (t.path(flag).asBoolean(false)) {
                    throw bad(source, field + "." + flag, "is true ('" + content + "'): Millrace matches added tokens exactly as written");
                }
            }
            if (normalizes && t.path("normalized").asBoolean(false)) {
                throw bad(source, field + ".normalized", "is true ('" + content + "'): Millrace matches added tokens before normalizing");
            }
            if (!t.path("special").isBoolean()) throw bad(source, field + ".special", "is missing ('" + content + "')");
            out.add(new ByteLevelBpe.AddedToken(content, t.get("id").asInt(), t.get("special").asBoolean()));
        }
        return out;
    }

    /**
     * The split regex of a pre-tokenizer: ByteLevel with its built-in regex (GPT-2's, SmolLM2's), or a Sequence of a
     * Split by a regex and ByteLevel without its own (Llama 3, Qwen, Millrace's files).
     */
    private static String splitPattern(JsonNode pre, String source) {
        if (pre == null || pre.isNull()) throw bad(source, "pre_tokenizer", "is null: byte-level BPE needs a ByteLevel pre-tokenizer");
        String expected = "Millrace reads ByteLevel (use_regex), or a Sequence of a Split (Regex, Isolated) and ByteLevel";
        List<JsonNode> steps = new ArrayList<>();
        List<String> fields = new ArrayList<>();
        if ("Sequence".equals(pre.path("type").asText())) {
            for (int i = 0; i < pre.path("pretokenizers").size(); i++) {
                steps.add(pre.get("pretokenizers").get(i));
                fields.add("pre_tokenizer.pretokenizers[" + i + "]");
            }
        } else {
            steps.add(pre);
            fields.add("pre_tokenizer");
        }
        for (int i = 0; i < steps.size(); i++) {
            String type = steps.get(i).path("type").asText();
            if (!type.equals("Split") && !type.equals("ByteLevel")) throw bad(source, fields.get(i) + ".type", "is '" + type + "': " + expected);
        }
        JsonNode last = steps.isEmpty() ? null : steps.get(steps.size() - 1);
        if (last == null || !"ByteLevel".equals(last.path("type").asText())) {
            throw bad(source, "pre_tokenizer", "does not end in ByteLevel: " + expected);
        }
        String lastField = fields.get(fields.size() - 1);
        if (last.path("add_prefix_space").asBoolean(true)) {
            throw bad(source, lastField + ".add_prefix_space", "is true: Millrace does not put a space before the text");
        }
        boolean byteLevelSplits = last.path("use_regex").asBoolean(true);
        if (steps.size() == 1 && byteLevelSplits) return Pretokenizer.GPT2; // ByteLevel's own regex is GPT-2's
        if (steps.size() != 2 || byteLevelSplits) {
            throw bad(source, "pre_tokenizer", "splits " + (byteLevelSplits ? "twice (Split, then ByteLevel's regex)" : "with no regex")
                    + ": " + expected);
        }
        JsonNode split = steps.get(0);
        String field = fields.get(0);
        if (!split.path("pattern").has("Regex")) throw bad(source, field + ".pattern", "is not a Regex: " + expected);
        if (!"Isolated".equals(split.path("behavior").asText())) {
            throw bad(source, field + ".behavior", "is '" + split.path("behavior").asText() + "': " + expected);
        }
        if (split.path("invert").asBoolean(false)) throw bad(source, field + ".invert", "is true: " + expected);
        String regex = split.get("pattern").get("Regex").asText();
        try {
            Pretokenizer.compile(regex);
        } catch (java.util.regex.PatternSyntaxException e) {
            throw bad(source, field + ".pattern.Regex", "does not compile in Java: " + e.getDescription());
        }
        return regex;
    }

    /**
     * The token a post-processor puts before the text (Llama 3.1's template: {@code <|begin_of_text|> $A}). ByteLevel
     * as a post-processor only trims offsets. A template that puts more before the text, or anything after it, is
     * refused: callers could not add what Hugging Face adds.
     */
    private static OptionalInt beginOfText(JsonNode post, String source, String field) {
        if (post == null || post.isNull()) return OptionalInt.empty();
        String type = post.path("type").asText();
        switch (type) {
            case "ByteLevel" -> {
                return OptionalInt.empty();
            }
            case "Sequence" -> {
                OptionalInt found = OptionalInt.empty();
                JsonNode steps = post.path("processors");
                for (int i = 0; i < steps.size(); i++) {
                    OptionalInt b = beginOfText(steps.get(i), source, field + ".processors[" + i + "]");
                    if (b.isPresent() && found.isPresent()) throw bad(source, field, "has two templates: " + post);
                    if (b.isPresent()) found = b;
                }
                return found;
            }
            case "TemplateProcessing" -> {
                List<Integer> before = new ArrayList<>();
                boolean text = false;
                for (JsonNode piece : post.path("single")) {
                    if (piece.has("Sequence")) {
                        text = true;
                    } else if (piece.has("SpecialToken")) {
                        String token = piece.get("SpecialToken").path("id").asText();
                        JsonNode ids = post.path("special_tokens").path(token).path("ids");
                        if (!ids.isArray() || ids.isEmpty()) throw bad(source, field + ".special_tokens", "has no ids for '" + token + "'");
                        if (text) throw bad(source, field + ".single", "puts '" + token + "' after the text: Millrace reads a template that puts at most one token before it");
                        for (JsonNode id : ids) before.add(id.asInt());
                    }
                }
                if (before.size() > 1) throw bad(source, field + ".single", "puts " + before + " before the text: Millrace reads a template that puts at most one token before it");
                return before.isEmpty() ? OptionalInt.empty() : OptionalInt.of(before.get(0));
            }
            default -> throw bad(source, field + ".type", "is '" + type + "': Millrace reads none, ByteLevel, TemplateProcessing or a Sequence of those");
        }
    }

    /**
     * A vocabulary from Hugging Face's parts: {@code vocab} (byte-level text → id), {@code merges} ({@code "a b"} or
     * {@code ["a", "b"]}, in rank order) and the added tokens, which keep their ids and leave BPE.
     */
    private static ByteLevelBpe build(String name, String source, String pattern, JsonNode vocab, JsonNode merges,
            List<ByteLevelBpe.AddedToken> added, ByteLevelBpe.Options options) {
        Map<String, Integer> addedIds = new HashMap<>();
        for (ByteLevelBpe.AddedToken t : added) addedIds.put(t.content(), t.id());
        int size = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            size = Math.max(size, it.next().getValue().asInt() + 1);
        }
        byte[][] tokens = new byte[size][];
        Map<String, Integer> byText = new HashMap<>(2 * size);
        for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int id = e.getValue().asInt();
            Integer addedId = addedIds.get(e.getKey());
            if (addedId != null) {
                // Hugging Face keeps added tokens in the vocabulary too (SmolLM2's at 0-16): they stay out of BPE
                if (addedId != id) throw bad(source, "model.vocab", "has '" + e.getKey() + "' at " + id + ", added_tokens at " + addedId);
                continue;
            }
            if (id < 0 || tokens[id] != null) throw bad(source, "model.vocab", "has id " + id + " twice or negative");
            try {
                tokens[id] = ByteLevelAlphabet.decode(e.getKey());
            } catch (IllegalArgumentException notByteLevel) {
                throw bad(source, "model.vocab", "has '" + e.getKey() + "', which is not in the byte-level alphabet");
            }
            byText.put(e.getKey(), id);
        }
        for (ByteLevelBpe.AddedToken t : added) {
            if (t.id() < size && tokens[t.id()] != null) {
                throw bad(source, "added_tokens", "give id " + t.id() + " to '" + t.content() + "', which model.vocab gives to '"
                        + ByteLevelAlphabet.encode(tokens[t.id()]) + "'");
            }
        }
        // Hugging Face keeps the last place of a pair listed twice
        MergeTable place = new MergeTable(merges.size());
        int[] pairs = new int[2 * merges.size()];
        for (int i = 0; i < merges.size(); i++) {
            JsonNode m = merges.get(i);
            String left, right;
            if (m.isArray() && m.size() == 2) {
                left = m.get(0).asText();
                right = m.get(1).asText();
            } else {
                String[] parts = m.asText().split(" ", -1);
                if (!m.isTextual() || parts.length != 2) throw bad(source, "model.merges[" + i + "]", m + " is not two tokens");
                left = parts[0];
                right = parts[1];
            }
            Integer l = byText.get(left), r = byText.get(right);
            if (l == null || r == null) {
                throw bad(source, "model.merges[" + i + "]", "'" + left + " " + right + "': '" + (l == null ? left : right)
                        + "' is not in model.vocab");
            }
            if (!byText.containsKey(left + right)) {
                throw bad(source, "model.merges[" + i + "]", "'" + left + " " + right + "' makes '" + left + right + "', which is not in model.vocab");
            }
            pairs[2 * i] = l;
            pairs[2 * i + 1] = r;
            long earlier = place.find(l, r);
            if (earlier != MergeTable.NONE) pairs[2 * MergeTable.rank(earlier)] = -1;
            place.put(l, r, i, 0);
        }
        int kept = 0;
        for (int i = 0; i < pairs.length; i += 2) {
            if (pairs[i] < 0) continue;
            pairs[kept++] = pairs[i];
            pairs[kept++] = pairs[i + 1];
        }
        try {
            return new ByteLevelBpe(name, pattern, tokens, Arrays.copyOf(pairs, kept), added, options);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
        }
    }

    /**
     * Writes {@code bpe} as a Hugging Face {@code tokenizer.json} that {@code tokenizers} loads with the same ids, and
     * Millrace reads back as the same vocabulary (the same id): its merges, added tokens with their special flags,
     * normalizer, {@code ignore_merges} and the token put before the text.
     */
    public static ObjectNode toHuggingFace(ByteLevelBpe bpe) {
        ObjectNode root = JsonSerde.MAPPER.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (ByteLevelBpe.AddedToken t : bpe.addedTokenList()) {
            added.addObject().put("id", t.id()).put("content", t.content()).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", false).put("special", t.special());
        }
        if (bpe.normalization().isPresent()) {
            root.putObject("normalizer").put("type", bpe.normalization().get().name());
        } else {
            root.putNull("normalizer");
        }
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "Sequence");
        ArrayNode steps = pre.putArray("pretokenizers");
        ObjectNode split = steps.addObject();
        split.put("type", "Split");
        split.putObject("pattern").put("Regex", bpe.pattern());
        split.put("behavior", "Isolated");
        split.put("invert", false);
        ObjectNode byteLevel = steps.addObject();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", false);
        if (bpe.beginOfText().isPresent()) {
            beginOfTextTemplate(root.putObject("post_processor"), bpe);
        } else {
            root.putNull("post_processor");
        }
        ObjectNode decoder = root.putObject("decoder");
        decoder.put("type", "ByteLevel");
        decoder.put("add_prefix_space", true);
        decoder.put("trim_offsets", true);
        decoder.put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        // tiktoken's and Millrace's vocabularies take a piece that is a whole token for that token
        model.put("ignore_merges", bpe.ignoresMerges());
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < bpe.tokenCount(); id++) {
            byte[] b = bpe.tokenBytes(id);
            if (b != null) vocab.put(ByteLevelAlphabet.encode(b), id);
        }
        // Hugging Face wants the added tokens in the vocabulary too, else it numbers them anew
        bpe.addedTokens().forEach(vocab::put);
        ArrayNode merges = model.putArray("merges");
        for (int[] m : bpe.mergeList()) {
            ArrayNode pair = merges.addArray();
            pair.add(ByteLevelAlphabet.encode(bpe.tokenBytes(m[0])));
            pair.add(ByteLevelAlphabet.encode(bpe.tokenBytes(m[1])));
        }
        return root;
    }

    /** Hugging Face's template that puts the begin-of-text token before the text (and before each of a pair), as Llama 3.1's. */
    private static void beginOfTextTemplate(ObjectNode post, ByteLevelBpe bpe) {
        int id = bpe.beginOfText().getAsInt();
        String text = textOf(bpe, id);
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", text).put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ArrayNode pair = post.putArray("pair");
        pair.addObject().putObject("SpecialToken").put("id", text).put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", text).put("type_id", 1);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
        ObjectNode special = post.putObject("special_tokens").putObject(text);
        special.put("id", text);
        special.putArray("ids").add(id);
        special.putArray("tokens").add(text);
    }

    /** The text of an added token, or a token's byte-level text. */
    private static String textOf(ByteLevelBpe bpe, int id) {
        for (Map.Entry<String, Integer> e : bpe.addedTokens().entrySet()) if (e.getValue() == id) return e.getKey();
        return ByteLevelAlphabet.encode(bpe.tokenBytes(id));
    }

    /**
     * Hugging Face's {@code tokenizer_config.json} for a vocabulary: a fast GPT-2 tokenizer, no prefix space; for a chat
     * model (fine-tuned on conversations: a vocabulary that merely has the markers is not one) also the
     * {@code chat_template} and {@code <|im_end|>} as the end of sequence, so that {@code transformers}'
     * {@code apply_chat_template} and {@code generate} behave as Millrace does — and Millrace knows the model for one.
     */
    public static void writeHuggingFaceConfig(ByteLevelBpe bpe, int maxLength, boolean chat, Path file) throws IOException {
        if (chat && !ChatTemplate.supports(bpe)) throw new IllegalArgumentException("a chat model's tokenizer needs the chat markers");
        // the vocabulary's own end of text (Llama 3's is <|end_of_text|>): a name it lacks would be added as a new token
        String end = textOf(bpe, bpe.endOfText());
        String begin = bpe.beginOfText().isPresent() ? textOf(bpe, bpe.beginOfText().getAsInt()) : end;
        ObjectNode c = JsonSerde.MAPPER.createObjectNode();
        c.put("tokenizer_class", "GPT2TokenizerFast").put("model_max_length", maxLength)
                .put("bos_token", begin).put("eos_token", chat ? ChatTemplate.END : end)
                .put("unk_token", end).put("pad_token", end).put("add_prefix_space", false);
        if (chat) c.put("chat_template", ChatTemplate.JINJA);
        JsonSerde.MAPPER.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), c);
    }

    /**
     * The chat template a {@code tokenizer_config.json} names, if any — or, as recent {@code transformers} save it, a
     * {@code chat_template.jinja} beside it.
     */
    public static java.util.Optional<String> chatTemplate(Path tokenizerConfig) throws IOException {
        if (java.nio.file.Files.isRegularFile(tokenizerConfig)) {
            JsonNode c = JsonSerde.MAPPER.readTree(tokenizerConfig.toFile());
            if (c.hasNonNull("chat_template")) return java.util.Optional.of(c.get("chat_template").asText());
        }
        Path jinja = tokenizerConfig.resolveSibling("chat_template.jinja");
        return java.nio.file.Files.isRegularFile(jinja) ? java.util.Optional.of(java.nio.file.Files.readString(jinja))
                : java.util.Optional.empty();
    }

    public static void writeHuggingFace(ByteLevelBpe bpe, Path file) throws IOException {
        JsonSerde.MAPPER.writeValue(file.toFile(), toHuggingFace(bpe));
    }
}
