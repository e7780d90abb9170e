package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import millrace.ExternalTools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {
    private static ByteLevelBpe trainOn(String text, int vocab) {
        BpeTrainer t = new BpeTrainer(Pretokenizer.GPT2);
        t.add(text);
        return t.train("test", vocab, 2, BpeTrainer.DEFAULT_SPECIALS);
    }

    @Test
    void mergesTheMostFrequentPairFirstAndBreaksTiesByIds() {
        // "aaab": pairs (a,a)×2, (a,b)×1 per word
        ByteLevelBpe bpe = trainOn("aaab aaab aaab", 256 + 3 + 1);
        assertArrayEquals("aa".getBytes(), bpe.tokenBytes(256));
        // ties: " a" vs "aa"... with one merge only the most frequent pair wins, deterministically
        ByteLevelBpe again = trainOn("aaab aaab aaab", 256 + 3 + 1);
        assertEquals(bpe.id(), again.id());
        assertEquals(260, bpe.vocabSize());
        assertEquals(256 + 1, bpe.endOfText());
    }

    @Test
    void trainedOnRealTextItCompressesAndIsDeterministic() throws Exception {
        String text = Files.readString(ExternalTools.repo().resolve("corpus/kjv/08-Ruth.txt"))
                + Files.readString(ExternalTools.repo().resolve("corpus/kjv/32-Jonah.txt"));
        ByteLevelBpe a = trainOn(text, 1000);
        ByteLevelBpe b = trainOn(text, 1000);
        assertEquals(a.id(), b.id());
        assertEquals(1000, a.vocabSize());
        int[] ids = a.encode(text);
        assertTrue(ids.length < text.length() / 3, "only " + text.length() / (double) ids.length + " chars/token");
        assertEquals(text, a.decode(ids));
    }

    /** Property: any byte sequence survives encode → decode, whatever the vocabulary learnt. */
    @Test
    void roundTripsEveryByteSequence() throws Exception {
        String text = Files.readString(ExternalTools.repo().resolve("corpus/kjv/65-Jude.txt"));
        ByteLevelBpe bpe = trainOn(text, 600);
        Random random = new Random(11);
        for (int round = 0; round < 500; round++) {
            byte[] bytes = new byte[random.nextInt(200)];
            random.nextBytes(bytes);
            // any Java string, including broken surrogates and control characters
            String s = new String(bytes, StandardCharsets.UTF_16LE);
            String expected = s.replaceAll("[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]", "\uFFFD");
            assertEquals(expected, bpe.decode(bpe.encode(s)));
            // and raw UTF-8 of real text cut anywhere decodes back to the same bytes
            int cut = random.nextInt(text.length());
            String piece = text.substring(cut, Math.min(text.length(), cut + random.nextInt(300)));
            assertArrayEquals(piece.getBytes(StandardCharsets.UTF_8), bpe.decodeBytes(bpe.encode(piece)));
        }
    }

    @Test
    void savedTrainedVocabularyLoadsInHuggingFaceWithTheSameIds(@TempDir Path dir) throws Exception {
        String text = Files.readString(ExternalTools.repo().resolve("corpus/kjv/08-Ruth.txt"));
        ByteLevelBpe bpe = trainOn(text, 2000);
        Path file = dir.resolve("tokenizer.json");
        Vocabularies.writeHuggingFace(bpe, file);
        assertEquals(bpe.id(), Vocabularies.read(file).id());
        try (var hf = ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.builder().optTokenizerPath(file)
                .optAddSpecialTokens(false).optTruncation(false).build()) {
            String sample = text + "<|im_start|>user\nHello<|im_end|>";
            long[] expected = hf.encode(sample, false, false).getIds();
            assertArrayEquals(java.util.Arrays.stream(bpe.encodeWithSpecials(sample)).asLongStream().toArray(), expected);
        }
        assertEquals(List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>"), List.copyOf(bpe.specials().keySet()));
    }
}
