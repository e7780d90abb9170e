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
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import millrace.protocol.JsonSerde;

/**
 * Reading and writing vocabularies: tiktoken rank files (the ones bundled in JTokkit, or any {@code .tiktoken}),
 * GPT-2's {@code encoder.json} + {@code vocab.bpe}, and Hugging Face {@code tokenizer.json} (byte-level BPE), which is
 * also what Millrace writes.
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
        return new ByteLevelBpe(name, pattern, tokens.toArray(byte[][]::new), null, specials);
    }

    /** Reads a vocabulary from a file: {@code tokenizer.json}, or a {@code .tiktoken} file with the GPT-2 pattern. */
    public static ByteLevelBpe read(Path file) throws IOException {
        String name = file.getFileName().toString();
        if (name.endsWith(".tiktoken")) {
            try (InputStream in = Files.newInputStream(file)) {
                return tiktoken(name, in, Pretokenizer.GPT2, Map.of());
            }
        }
        return huggingFace(JsonSerde.MAPPER.readTree(file.toFile()), name);
    }

    /** GPT-2's original files: {@code encoder.json} (token → id) and {@code vocab.bpe} (merges, in rank order). */
    public static ByteLevelBpe gpt2(Path encoderJson, Path vocabBpe) throws IOException {
        JsonNode encoder = JsonSerde.MAPPER.readTree(encoderJson.toFile());
        List<String> merges = new ArrayList<>();
        for (String line : Files.readAllLines(vocabBpe, StandardCharsets.UTF_8)) {
            if (line.startsWith("#version") || line.isBlank()) continue;
            merges.add(line);
        }
        Map<String, Integer> specials = new LinkedHashMap<>();
        if (encoder.has("<|endoftext|>")) specials.put("<|endoftext|>", encoder.get("<|endoftext|>").asInt());
        return fromVocabAndMerges("gpt2", Pretokenizer.GPT2, encoder, merges, specials);
    }

    /** A Hugging Face {@code tokenizer.json} with a byte-level BPE model. */
    public static ByteLevelBpe huggingFace(JsonNode json, String name) {
        JsonNode model = json.get("model");
        if (model == null || !"BPE".equals(model.path("type").asText("BPE")) || !model.has("vocab")) {
            throw new IllegalArgumentException(name + ": not a BPE tokenizer.json");
        }
        List<String> merges = new ArrayList<>();
        for (JsonNode m : model.get("merges")) {
            merges.add(m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText());
        }
        Map<String, Integer> specials = new LinkedHashMap<>();
        for (JsonNode t : json.path("added_tokens")) {
            if (t.path("special").asBoolean(true)) specials.put(t.get("content").asText(), t.get("id").asInt());
        }
        return fromVocabAndMerges(name, splitPattern(json.get("pre_tokenizer")), model.get("vocab"), merges, specials);
    }

    /** The split regex of a pre-tokenizer: a Split with a Regex, or ByteLevel with its built-in GPT-2 regex. */
    private static String splitPattern(JsonNode pre) {
        if (pre == null || pre.isNull()) return Pretokenizer.GPT2;
        switch (pre.path("type").asText()) {
            case "Sequence" -> {
                for (JsonNode p : pre.get("pretokenizers")) {
                    if ("Split".equals(p.path("type").asText())) return p.get("pattern").get("Regex").asText();
                }
                return Pretokenizer.GPT2;
            }
            case "Split" -> {
                return pre.get("pattern").get("Regex").asText();
            }
            default -> {
                return Pretokenizer.GPT2;
            }
        }
    }

    private static ByteLevelBpe fromVocabAndMerges(String name, String pattern, JsonNode vocab, List<String> merges,
            Map<String, Integer> specials) {
        int size = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            size = Math.max(size, it.next().getValue().asInt() + 1);
        }
        byte[][] tokens = new byte[size][];
        int[] ranks = new int[size];
        java.util.Arrays.fill(ranks, Integer.MAX_VALUE);
        Map<String, Integer> byText = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int id = e.getValue().asInt();
            if (specials.containsKey(e.getKey())) continue;
            tokens[id] = ByteLevelAlphabet.decode(e.getKey());
            byText.put(e.getKey(), id);
        }
        // single bytes are never the result of a merge; merged tokens rank by the order of their merge
        for (int i = 0; i < size; i++) if (tokens[i] != null && tokens[i].length == 1) ranks[i] = -1;
        int rank = 0;
        for (String merge : merges) {
            int space = merge.indexOf(' ');
            Integer merged = byText.get(merge.substring(0, space) + merge.substring(space + 1));
            if (merged == null) throw new IllegalArgumentException(name + ": merge '" + merge + "' makes no token");
            if (ranks[merged] == Integer.MAX_VALUE) ranks[merged] = rank;
            rank++;
        }
        for (String s : specials.keySet()) {
            int id = specials.get(s);
            if (id < size) tokens[id] = null;
        }
        return new ByteLevelBpe(name, pattern, tokens, ranks, specials);
    }

    /** Writes {@code bpe} as a Hugging Face {@code tokenizer.json} that {@code tokenizers} loads with the same ids. */
    public static ObjectNode toHuggingFace(ByteLevelBpe bpe) {
        ObjectNode root = JsonSerde.MAPPER.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        bpe.specials().forEach((text, id) -> {
            ObjectNode t = added.addObject();
            t.put("id", id);
            t.put("content", text);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        });
        root.putNull("normalizer");
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
        root.putNull("post_processor");
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
        // a piece that is a whole token is that token, as in tiktoken
        model.put("ignore_merges", true);
        ObjectNode vocab = model.putObject("vocab");
        List<Integer> merged = new ArrayList<>();
        for (int id = 0; id < bpe.tokenCount(); id++) {
            byte[] b = bpe.tokenBytes(id);
            if (b == null) continue;
            vocab.put(ByteLevelAlphabet.encode(b), id);
            if (b.length > 1) merged.add(id);
        }
        // Hugging Face wants the added tokens in the vocabulary too, else it numbers them anew
        bpe.specials().forEach(vocab::put);
        merged.sort(java.util.Comparator.comparingInt(bpe::mergeRank));
        ArrayNode merges = model.putArray("merges");
        for (int id : merged) {
            int[] parents = bpe.mergeParents(id);
            ArrayNode pair = merges.addArray();
            pair.add(ByteLevelAlphabet.encode(bpe.tokenBytes(parents[0])));
            pair.add(ByteLevelAlphabet.encode(bpe.tokenBytes(parents[1])));
        }
        return root;
    }

    /**
     * Hugging Face's {@code tokenizer_config.json} for a vocabulary: a fast GPT-2 tokenizer, no prefix space; for a chat
     * model (fine-tuned on conversations: a vocabulary that merely has the markers is not one) also the
     * {@code chat_template} and {@code <|im_end|>} as the end of sequence, so that {@code transformers}'
     * {@code apply_chat_template} and {@code generate} behave as Millrace does — and Millrace knows the model for one.
     */
    public static void writeHuggingFaceConfig(ByteLevelBpe bpe, int maxLength, boolean chat, Path file) throws IOException {
        if (chat && !ChatTemplate.supports(bpe)) throw new IllegalArgumentException("a chat model's tokenizer needs the chat markers");
        ObjectNode c = JsonSerde.MAPPER.createObjectNode();
        c.put("tokenizer_class", "GPT2TokenizerFast").put("model_max_length", maxLength)
                .put("bos_token", "<|endoftext|>").put("eos_token", chat ? ChatTemplate.END : "<|endoftext|>")
                .put("unk_token", "<|endoftext|>").put("pad_token", "<|endoftext|>").put("add_prefix_space", false);
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
