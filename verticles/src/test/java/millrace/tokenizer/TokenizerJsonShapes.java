package millrace.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import millrace.ExternalTools;
import millrace.protocol.JsonSerde;

/**
 * {@code tokenizer.json} files in the shapes Hugging Face writes for open models whose own files are not installed
 * here (SmolLM2's; Llama 3.1's template), made from a small vocabulary Millrace trains on real text.
 */
final class TokenizerJsonShapes {
    /** SmolLM2's added tokens, ids 0-16, in its vocabulary too. */
    static final List<String> SMOLLM2_ADDED = List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>",
            "<reponame>", "<file_sep>", "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>",
            "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<jupyter_script>", "<empty_output>");

    /** Llama 3.1's post-processor as tokenizers 0.23 writes it ({@code BOS} standing for the id). */
    private static final String LLAMA31_POST_PROCESSOR = """
            {"type": "Sequence", "processors": [
              {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
              {"type": "TemplateProcessing",
               "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
               "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
               "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [BOS], "tokens": ["<|begin_of_text|>"]}}}]}
            """;

    private static ByteLevelBpe small;

    private TokenizerJsonShapes() {}

    /** 1,500 tokens trained on German text (dasher-data) with GPT-2's pattern, no added tokens; made once. */
    static synchronized ByteLevelBpe small() {
        if (small == null) {
            Path german = ExternalTools.requireFile(Path.of("/usr/share/dasher/training_german_DE.txt"), "apt-get install dasher-data");
            BpeTrainer trainer = new BpeTrainer(Pretokenizer.GPT2);
            try {
                trainer.add(Files.readString(german, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            small = trainer.train("small", 1_500, 2, List.of());
        }
        return small;
    }

    /**
     * SmolLM2's shape: its added tokens first, at ids 0-16 and in the vocabulary; the BPE tokens after them; merges as
     * {@code "a b"}; ByteLevel with its own regex as the pre-tokenizer and the post-processor; no {@code ignore_merges}
     * (files written before tokenizers 0.19 have none, which means false).
     */
    static ObjectNode smolLm2(ByteLevelBpe bpe) {
        ObjectNode json = Vocabularies.toHuggingFace(bpe);
        ObjectNode model = (ObjectNode) json.get("model");
        ArrayNode added = json.putArray("added_tokens");
        ObjectNode vocab = JsonSerde.MAPPER.createObjectNode();
        for (int id = 0; id < SMOLLM2_ADDED.size(); id++) {
            added.addObject().put("id", id).put("content", SMOLLM2_ADDED.get(id)).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
            vocab.put(SMOLLM2_ADDED.get(id), id);
        }
        model.get("vocab").fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt() + SMOLLM2_ADDED.size()));
        model.set("vocab", vocab);
        ArrayNode merges = JsonSerde.MAPPER.createArrayNode();
        for (JsonNode m : model.get("merges")) merges.add(m.get(0).asText() + " " + m.get(1).asText());
        model.set("merges", merges);
        model.remove("ignore_merges");
        json.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
                .put("use_regex", true);
        json.putObject("post_processor").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", false)
                .put("use_regex", true);
        return json;
    }

    /** Llama 3.1's shape: {@code <|begin_of_text|>} and {@code <|end_of_text|>} added, and the template that puts the first before the text. */
    static ObjectNode llama31(ByteLevelBpe bpe) {
        ByteLevelBpe marked = bpe.withSpecials(List.of("<|begin_of_text|>", "<|end_of_text|>"));
        ObjectNode json = Vocabularies.toHuggingFace(marked);
        String post = LLAMA31_POST_PROCESSOR.replace("BOS", Integer.toString(marked.specials().get("<|begin_of_text|>")));
        try {
            json.set("post_processor", JsonSerde.MAPPER.readTree(post));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return json;
    }

    /** {@code bpe}'s file with {@code text} as one more token, which no merge makes, and {@code ignore_merges} as given. */
    static ObjectNode withTokenNoMergeMakes(ByteLevelBpe bpe, String text, boolean ignoreMerges) {
        ObjectNode json = Vocabularies.toHuggingFace(bpe);
        ObjectNode model = (ObjectNode) json.get("model");
        ((ObjectNode) model.get("vocab")).put(ByteLevelAlphabet.encode(text.getBytes(StandardCharsets.UTF_8)), bpe.vocabSize());
        model.put("ignore_merges", ignoreMerges);
        return json;
    }

    static Path write(JsonNode json, Path file) {
        try {
            JsonSerde.MAPPER.writeValue(file.toFile(), json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}
