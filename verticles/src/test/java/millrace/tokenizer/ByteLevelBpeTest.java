package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import millrace.ExternalTools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Millrace's BPE against JTokkit on OpenAI's three vocabularies, on real multilingual text. */
class ByteLevelBpeTest {
    private static final EncodingRegistry JTOKKIT = Encodings.newLazyEncodingRegistry();
    private static final int SAMPLE = 60_000;

    /** Real text from Debian packages (dasher-data's training texts, the KJV) and from this repository. */
    static List<String> samples() throws Exception {
        List<String> out = new ArrayList<>();
        out.add(read(ExternalTools.repo().resolve("corpus/kjv/01-Genesis.txt")));
        out.add(read(ExternalTools.repo().resolve("verticles/src/main/java/millrace/tokenizer/ByteLevelBpe.java")));
        Path dasher = Path.of("/usr/share/dasher");
        for (String lang : List.of("german_DE", "spanish_ES", "russian_RU", "greek_GR", "hebrew_IL", "canna_JP",
                "hiragana83_JP", "persian_IR", "bengali_BD", "turkish_TR", "polish_PL")) {
            out.add(read(ExternalTools.requireFile(dasher.resolve("training_" + lang + ".txt"), "apt-get install dasher-data")));
        }
        out.add("emoji 🌍🚀👩‍👩‍👧‍👦 flags 🇩🇪🇯🇵 skin 👍🏽 and 中文字符测试，标点。 日本語のテキスト、カタカナ。");
        out.add("tabs\t\tand   runs of spaces" + " ".repeat(300) + "\n\n\n\r\n end" + "\t".repeat(40) + "x");
        out.add("invalid surrogates: \uD800 alone, \uDFFF alone, reversed \uDC00\uD800, fine \uD83D\uDE00.");
        out.add("numbers 1234567890 3.14159 1,000,000 and contractions: it's, we'RE, they'll, I'd, o'clock, DON'T");
        return out;
    }

    private static String read(Path f) throws Exception {
        String s = Files.readString(f, StandardCharsets.UTF_8);
        return s.length() > SAMPLE ? s.substring(0, SAMPLE) : s;
    }

    @ParameterizedTest
    @ValueSource(strings = {"r50k", "cl100k", "o200k"})
    void sameIdsAsJtokkit(String name) throws Exception {
        ByteLevelBpe ours = Vocabularies.builtin(name);
        Encoding reference = JTOKKIT.getEncoding(switch (name) {
            case "r50k" -> EncodingType.R50K_BASE;
            case "cl100k" -> EncodingType.CL100K_BASE;
            default -> EncodingType.O200K_BASE;
        });
        for (String text : samples()) {
            // JTokkit turns a lone surrogate into '?', tiktoken (and Millrace) into U+FFFD: compare on valid text
            String valid = text.replaceAll("[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]", "\uFFFD");
            int[] expected = reference.encodeOrdinary(valid).toArray();
            int[] actual = ours.encode(text);
            if (!java.util.Arrays.equals(expected, actual)) {
                int i = 0;
                while (i < Math.min(expected.length, actual.length) && expected[i] == actual[i]) i++;
                fail(name + ": first difference at token " + i + " of " + expected.length + " in \""
                        + valid.substring(0, Math.min(80, valid.length())).replace('\n', ' ') + "…\": expected "
                        + expected[Math.min(i, expected.length - 1)] + " got " + actual[Math.min(i, actual.length - 1)]);
            }
            assertEquals(valid, ours.decode(actual));
        }
    }

    @Test
    void specialTokensOnlyWhenAskedFor() {
        ByteLevelBpe cl100k = Vocabularies.builtin("cl100k");
        String text = "hello<|endoftext|>world";
        int[] plain = cl100k.encode(text);
        assertFalse(java.util.Arrays.stream(plain).anyMatch(t -> t == 100257));
        int[] special = cl100k.encodeWithSpecials(text);
        assertEquals(3, special.length);
        assertEquals(100257, special[1]);
        assertEquals(text, cl100k.decode(special));
        assertEquals(100257, cl100k.endOfText());
        assertEquals(100277, cl100k.vocabSize());
    }

    @Test
    void idIsAHashOfTheContent() {
        // shards and checkpoints carry these: what a vocabulary can newly say enters the hash only where it says it
        assertEquals("bpe-ca6c0729b7e1", Vocabularies.builtin("r50k").id());
        assertEquals("bpe-8f54ead8b616", Vocabularies.builtin("cl100k").id());
        assertEquals("bpe-50777ad43276", Vocabularies.builtin("o200k").id());
        assertEquals(Vocabularies.builtin("r50k").id(), Vocabularies.builtin("gpt2").id());
        assertNotEquals(Vocabularies.builtin("r50k").id(), Vocabularies.builtin("cl100k").id());
        assertTrue(Vocabularies.builtin("o200k").id().matches("bpe-[0-9a-f]{12}"));
    }

    /** Hugging Face tokenizers (through DJL) loads Millrace's tokenizer.json and gives the same ids on real text. */
    @ParameterizedTest
    @ValueSource(strings = {"r50k", "cl100k", "o200k"})
    void huggingFaceTokenizersLoadsTheExportAndAgrees(String name, @org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        ByteLevelBpe ours = Vocabularies.builtin(name);
        Path file = dir.resolve("tokenizer.json");
        Vocabularies.writeHuggingFace(ours, file);
        try (ai.djl.huggingface.tokenizers.HuggingFaceTokenizer hf = ai.djl.huggingface.tokenizers.HuggingFaceTokenizer
                .builder().optTokenizerPath(file).optAddSpecialTokens(false).optTruncation(false).build()) {
            for (String text : samples()) {
                if (text.startsWith("invalid surrogates")) continue; // not representable in Rust strings
                // Hugging Face always recognises added tokens in the text: compare with encodeWithSpecials
                long[] expected = hf.encode(text, false, false).getIds();
                int[] actual = ours.encodeWithSpecials(text);
                assertArrayEquals(java.util.Arrays.stream(actual).asLongStream().toArray(), expected,
                        name + " on \"" + text.substring(0, Math.min(60, text.length())).replace('\n', ' ') + "…\"");
            }
        }
    }

    /** GPT-2's original pair of files (encoder.json, vocab.bpe), written here from the exported vocabulary. */
    @Test
    void gpt2EncoderJsonAndVocabBpeLoadAsR50k(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        ByteLevelBpe r50k = Vocabularies.builtin("r50k");
        var json = Vocabularies.toHuggingFace(r50k);
        Path encoder = dir.resolve("encoder.json");
        millrace.protocol.JsonSerde.MAPPER.writeValue(encoder.toFile(), json.get("model").get("vocab"));
        StringBuilder bpe = new StringBuilder("#version: 0.2\n");
        for (var merge : json.get("model").get("merges")) {
            bpe.append(merge.get(0).asText()).append(' ').append(merge.get(1).asText()).append('\n');
        }
        Path vocab = Files.writeString(dir.resolve("vocab.bpe"), bpe.toString());
        ByteLevelBpe gpt2 = Vocabularies.gpt2(encoder, vocab);
        assertEquals(r50k.id(), gpt2.id());
        String text = samples().get(0).substring(0, 10_000) + samples().get(4).substring(0, 3_000);
        assertArrayEquals(r50k.encode(text), gpt2.encode(text));
    }

    @Test
    void exportedTokenizerJsonReadsBackAsTheSameVocabulary(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        ByteLevelBpe r50k = Vocabularies.builtin("r50k");
        Path file = dir.resolve("tokenizer.json");
        Vocabularies.writeHuggingFace(r50k, file);
        ByteLevelBpe back = Vocabularies.read(file);
        String text = samples().get(0).substring(0, 20_000) + samples().get(5).substring(0, 5_000);
        assertArrayEquals(r50k.encode(text), back.encode(text));
        assertEquals(Map.of("<|endoftext|>", 50256), back.specials());
        assertEquals(r50k.id(), back.id());
    }
}
