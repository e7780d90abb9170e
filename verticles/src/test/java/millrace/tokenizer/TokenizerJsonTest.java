package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Reading {@code tokenizer.json} as Hugging Face writes it for open models, on files in their shapes: what Millrace
 * makes of each field, and what it refuses, with the file and the field named. (HuggingFaceTokenizersTest checks the
 * ids against Hugging Face itself.)
 */
class TokenizerJsonTest {
    @TempDir
    Path dir;

    private static final String TEXT = "Über die Brücke gingen 12 Leute, 345 blieben.\n  Sie sagten: \"Wir kommen morgen.\"";

    @Test
    void smolLm2ShapeKeepsItsAddedTokensFirstAndEncodesAsTheVocabularyItWasMadeFrom() throws Exception {
        ByteLevelBpe small = TokenizerJsonShapes.small();
        ByteLevelBpe smol = Vocabularies.read(TokenizerJsonShapes.write(TokenizerJsonShapes.smolLm2(small), dir.resolve("tokenizer.json")));
        assertEquals(TokenizerJsonShapes.SMOLLM2_ADDED, List.copyOf(smol.specials().keySet()));
        assertEquals(0, smol.endOfText());
        assertEquals(Pretokenizer.GPT2, smol.pattern());
        assertFalse(smol.ignoresMerges(), "no ignore_merges in the file is false");
        int shift = TokenizerJsonShapes.SMOLLM2_ADDED.size();
        assertArrayEquals(Arrays.stream(small.encode(TEXT)).map(id -> id + shift).toArray(), smol.encode(TEXT));
        int[] chat = smol.encodeWithSpecials("<|im_start|>user\n" + TEXT + "<|im_end|>");
        assertEquals(1, chat[0]);
        assertEquals(2, chat[chat.length - 1]);
        assertEquals("<|im_start|>user\n" + TEXT + "<|im_end|>", smol.decode(chat));
    }

    @Test
    void llama31TemplateIsTheBeginOfTextAndEndOfTextIsLlamas() throws Exception {
        ByteLevelBpe llama = Vocabularies.read(TokenizerJsonShapes.write(TokenizerJsonShapes.llama31(TokenizerJsonShapes.small()),
                dir.resolve("tokenizer.json")));
        assertEquals(OptionalInt.of(llama.specials().get("<|begin_of_text|>")), llama.beginOfText());
        assertEquals(llama.specials().get("<|end_of_text|>"), llama.endOfText());
        assertEquals(OptionalInt.empty(), TokenizerJsonShapes.small().beginOfText());
        // written back, the template says the same, and the vocabulary is the same
        ByteLevelBpe back = Vocabularies.read(TokenizerJsonShapes.write(Vocabularies.toHuggingFace(llama), dir.resolve("back.json")));
        assertEquals(llama.beginOfText(), back.beginOfText());
        assertEquals(llama.id(), back.id());
        assertNotEquals(TokenizerJsonShapes.small().withSpecials(List.of("<|begin_of_text|>", "<|end_of_text|>")).id(), llama.id(),
                "the begin-of-text token is part of the id");
        // a document as the model is trained on it and prompted with: <|begin_of_text|> text <|end_of_text|>
        int[] text = llama.encode(TEXT);
        int[] document = llama.document(TEXT);
        assertEquals(llama.beginOfText().getAsInt(), document[0]);
        assertArrayEquals(text, Arrays.copyOfRange(document, 1, document.length - 1));
        assertEquals(llama.endOfText(), document[document.length - 1]);
        assertArrayEquals(Arrays.copyOf(document, document.length - 1), millrace.sft.PromptFormat.plainPrompt(llama, TEXT));
        ByteLevelBpe plain = TokenizerJsonShapes.small().withSpecials(List.of("<|endoftext|>"));
        assertArrayEquals(plain.encode(TEXT), Arrays.copyOf(plain.document(TEXT), plain.encode(TEXT).length), "no begin-of-text");
    }

    /** A token that no merge makes: with ignore_merges a piece that is that token is it, without it the piece is merged. */
    @Test
    void ignoreMergesDecidesWhetherAPieceThatIsATokenNoMergeMakesIsThatToken() throws Exception {
        ByteLevelBpe small = TokenizerJsonShapes.small();
        String unmade = "QQQQQQ";
        assertTrue(small.encode(unmade).length > 1);
        ByteLevelBpe whole = Vocabularies.read(TokenizerJsonShapes.write(
                TokenizerJsonShapes.withTokenNoMergeMakes(small, unmade, true), dir.resolve("ignore.json")));
        ByteLevelBpe merged = Vocabularies.read(TokenizerJsonShapes.write(
                TokenizerJsonShapes.withTokenNoMergeMakes(small, unmade, false), dir.resolve("merge.json")));
        assertArrayEquals(new int[] {small.vocabSize()}, whole.encode(unmade));
        assertArrayEquals(small.encode(unmade), merged.encode(unmade));
        assertNotEquals(whole.id(), merged.id());
        // every token the merges make is reached by merging: there ignore_merges changes nothing, nor the id
        ByteLevelBpe noFlag = Vocabularies.read(TokenizerJsonShapes.write(TokenizerJsonShapes.smolLm2(small), dir.resolve("smol.json")));
        ObjectNode flagged = TokenizerJsonShapes.smolLm2(small);
        ((ObjectNode) flagged.get("model")).put("ignore_merges", true);
        assertEquals(noFlag.id(), Vocabularies.read(TokenizerJsonShapes.write(flagged, dir.resolve("flagged.json"))).id());
    }

    /** Hugging Face finds added tokens before anything else: the leftmost, the longest there; special or not. */
    @Test
    void addedTokensSpecialOrNotAreFoundLeftmostAndLongest() throws Exception {
        ObjectNode json = Vocabularies.toHuggingFace(TokenizerJsonShapes.small());
        ArrayNode added = (ArrayNode) json.get("added_tokens");
        int next = TokenizerJsonShapes.small().vocabSize();
        for (String[] t : new String[][] {{"<think>", "false"}, {"<think></think>", "false"}, {"<|x|>", "true"}}) {
            added.addObject().put("id", next++).put("content", t[0]).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", false).put("special", Boolean.parseBoolean(t[1]));
        }
        ByteLevelBpe bpe = Vocabularies.read(TokenizerJsonShapes.write(json, dir.resolve("tokenizer.json")));
        int think = bpe.addedTokens().get("<think>"), empty = bpe.addedTokens().get("<think></think>"), x = bpe.addedTokens().get("<|x|>");
        assertEquals(List.of("<|x|>"), List.copyOf(bpe.specials().keySet()), "only the special ones are specials()");
        int[] ids = bpe.encodeWithSpecials("a<think></think>b<think>c</think><|x|><thin");
        assertEquals(List.of(empty, think, x), Arrays.stream(ids).filter(id -> id >= think).boxed().toList());
        assertEquals("a<think></think>b<think>c</think><|x|><thin", bpe.decode(ids));
        assertTrue(Arrays.stream(bpe.encode("a<think>b<|x|>")).noneMatch(id -> id >= think), "encode recognises none");
    }

    /** What Qwen's file says beyond the tokens — NFC, non-special added tokens, no ignore_merges — is written back as read. */
    @Test
    void writtenBackAVocabularyKeepsItsNormalizerAddedTokensAndIgnoreMerges() throws Exception {
        ObjectNode json = Vocabularies.toHuggingFace(TokenizerJsonShapes.small());
        json.putObject("normalizer").put("type", "NFC");
        ((ObjectNode) json.get("model")).put("ignore_merges", false);
        ((ArrayNode) json.get("added_tokens")).addObject().put("id", TokenizerJsonShapes.small().vocabSize()).put("content", "<think>")
                .put("single_word", false).put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", false);
        ByteLevelBpe qwenLike = Vocabularies.read(TokenizerJsonShapes.write(json, dir.resolve("tokenizer.json")));
        assertEquals(java.util.Optional.of(Normalizer.Form.NFC), qwenLike.normalization());
        String decomposed = Normalizer.normalize(TEXT, Normalizer.Form.NFD);
        assertNotEquals(TEXT, decomposed);
        assertArrayEquals(qwenLike.encode(TEXT), qwenLike.encode(decomposed));
        assertEquals(TEXT, qwenLike.decode(qwenLike.encode(decomposed)));
        assertNotEquals(TokenizerJsonShapes.small().id(), qwenLike.id(), "normalizer and added token are part of the id");

        ObjectNode written = Vocabularies.toHuggingFace(qwenLike);
        assertEquals("NFC", written.get("normalizer").get("type").asText());
        assertFalse(written.get("model").get("ignore_merges").asBoolean());
        assertFalse(written.get("added_tokens").get(0).get("special").asBoolean());
        assertEquals(qwenLike.id(), Vocabularies.read(TokenizerJsonShapes.write(written, dir.resolve("back.json"))).id());
    }

    /** Why encoding skips normalizing text below U+0300: no character there, nor two side by side, changes under NFC. */
    @Test
    void textBelowTheCombiningMarksIsAlreadyNfc() {
        for (char a = 0; a < 0x300; a++) {
            if (Character.isSurrogate(a)) continue;
            for (char b = 0; b < 0x300; b++) {
                String pair = new String(new char[] {a, b});
                assertTrue(Normalizer.isNormalized(pair, Normalizer.Form.NFC), () -> pair.codePoints()
                        .mapToObj(c -> String.format("U+%04X", c)).toList() + " is not NFC");
            }
        }
    }

    static Stream<Arguments> refused() {
        return Stream.of(
                refusal("normalizer NFKC", j -> j.putObject("normalizer").put("type", "NFKC"), "normalizer.type is 'NFKC'"),
                refusal("a Sequence with a lowercasing normalizer", j -> {
                    ArrayNode steps = j.putObject("normalizer").put("type", "Sequence").putArray("normalizers");
                    steps.addObject().put("type", "NFC");
                    steps.addObject().put("type", "Lowercase");
                }, "normalizer.normalizers[1].type is 'Lowercase'"),
                refusal("a Whitespace pre-tokenizer", j -> j.putObject("pre_tokenizer").put("type", "Whitespace"),
                        "pre_tokenizer.type is 'Whitespace'"),
                refusal("a Split followed by ByteLevel with its own regex", j -> ((ObjectNode) j.get("pre_tokenizer")
                        .get("pretokenizers").get(1)).put("use_regex", true), "pre_tokenizer splits twice"),
                refusal("a prefix space", j -> ((ObjectNode) j.get("pre_tokenizer").get("pretokenizers").get(1))
                        .put("add_prefix_space", true), "pre_tokenizer.pretokenizers[1].add_prefix_space is true"),
                refusal("no pre-tokenizer", j -> j.putNull("pre_tokenizer"), "pre_tokenizer is null"),
                refusal("byte fallback", j -> ((ObjectNode) j.get("model")).put("byte_fallback", true), "model.byte_fallback is true"),
                refusal("an unknown token", j -> ((ObjectNode) j.get("model")).put("unk_token", "<unk>"), "model.unk_token is \"<unk>\""),
                refusal("a WordPiece model", j -> ((ObjectNode) j.get("model")).put("type", "WordPiece"), "model.type is 'WordPiece'"),
                refusal("a merge that makes no token", j -> ((ArrayNode) j.get("model").get("merges")).insertArray(0).add("Q").add("Z"),
                        "model.merges[0] 'Q Z' makes 'QZ', which is not in model.vocab"),
                refusal("an added token that strips", j -> ((ArrayNode) j.get("added_tokens")).addObject().put("id", 9_999)
                        .put("content", "<mask>").put("lstrip", true).put("special", true), "added_tokens[0].lstrip is true"),
                refusal("a BERT post-processor", j -> j.putObject("post_processor").put("type", "BertProcessing"),
                        "post_processor.type is 'BertProcessing'"),
                refusal("a template that appends a token", j -> {
                    ObjectNode t = j.putObject("post_processor").put("type", "TemplateProcessing");
                    t.putArray("single").addObject().putObject("Sequence").put("id", "A");
                    ((ArrayNode) t.get("single")).addObject().putObject("SpecialToken").put("id", "</s>");
                    t.putObject("special_tokens").putObject("</s>").putArray("ids").add(0);
                }, "post_processor.single puts '</s>' after the text"));
    }

    private static Arguments refusal(String what, Consumer<ObjectNode> change, String message) {
        return Arguments.of(what, change, message);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refused")
    void whatItCannotReadAsHuggingFaceDoesIsRefusedNamingTheFileAndTheField(String what, Consumer<ObjectNode> change,
            String message) throws Exception {
        ObjectNode json = Vocabularies.toHuggingFace(TokenizerJsonShapes.small());
        change.accept(json);
        Path file = TokenizerJsonShapes.write(json, dir.resolve("tokenizer.json"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Vocabularies.read(file));
        assertTrue(e.getMessage().startsWith(file + ": " + message), e.getMessage());
    }

    @Test
    void endOfTextIsRequiredToEndDocuments() throws Exception {
        ByteLevelBpe bare = TokenizerJsonShapes.small();
        IllegalStateException e = assertThrows(IllegalStateException.class, bare::endOfText);
        assertTrue(e.getMessage().contains("<|endoftext|> or <|end_of_text|>"), e.getMessage());
        assertEquals(bare.vocabSize(), bare.withSpecials(List.of("<|end_of_text|>")).endOfText());
    }
}
