package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The hand-written cl100k, Qwen and o200k splitters cut every string exactly where their regular expressions do. */
class HandWrittenSplittersTest {
    private static final String[] CL100K_PALETTE = {"a", "Z", "é", "ß", "ſ", "я", "中", "の", "ᚠ", "0", "7", "٣", "½", "Ⅻ", " ", "  ",
        "\t", "\n", "\r\n", "\r", "\u00A0", "\u2003", "\u3000", "\u0085", "\u001C", "'", "'s", "'S", "'ll", "'Re", "'ve",
        "'d", "'m", "'t", ".", ",", "!?", "-", "/", "😀", "🇩🇪", "\uD800", "\uDC00", "_", "#", "$", "x'", "don't"};
    /** cl100k's, and what o200k's case classes turn on: titlecase, modifier letters, marks, astral letters. */
    private static final String[] O200K_PALETTE = {"a", "Z", "é", "ß", "ſ", "я", "中", "の", "ᚠ", "0", "7", "٣", "½", "Ⅻ", " ", "  ",
        "\t", "\n", "\r\n", "\r", "\u00A0", "\u2003", "\u3000", "\u0085", "\u001C", "'", "'s", "'S", "'ll", "'Re", "'ve",
        "'d", "'m", "'t", ".", ",", "!?", "-", "/", "😀", "🇩🇪", "\uD800", "\uDC00", "_", "#", "$", "x'", "don't",
        "Hello", "HTML", "iPhone", "Ǆ", "ǅ", "ʰ", "ʼ", "\u0301", "e\u0301", "\u0903", "\u20DD", "A\u0301b", "𝐀", "𝐚", "ΑΒγ", "I'M", "/\n"};

    /** A splitter: the end of the piece that starts at {@code i}. */
    private interface Splitter {
        int end(String s, int i);
    }

    @Test
    void cl100kAgreesWithTheRegexOnRandomStrings() {
        agree(Pretokenizer.CL100K, (s, i) -> Cl100kSplitter.end(s, i, 3), CL100K_PALETTE, 20_000);
    }

    /** Qwen's pattern is cl100k's with single digits: runs of digits of every kind are where it differs. */
    @Test
    void qwenAgreesWithTheRegexOnRandomStrings() {
        String[] palette = java.util.stream.Stream.concat(java.util.Arrays.stream(CL100K_PALETTE),
                java.util.stream.Stream.of("12", "345", "6789", "٣٤", "１２", "²³", "x1")).toArray(String[]::new);
        agree(Pretokenizer.QWEN2, (s, i) -> Cl100kSplitter.end(s, i, 1), palette, 20_000);
    }

    @Test
    void o200kAgreesWithTheRegexOnRandomStrings() {
        agree(Pretokenizer.O200K, O200kSplitter::end, O200K_PALETTE, 40_000);
    }

    private static void agree(String pattern, Splitter splitter, String[] palette, int rounds) {
        Pattern regex = Pretokenizer.compile(pattern);
        Random random = new Random(7);
        for (int round = 0; round < rounds; round++) {
            StringBuilder sb = new StringBuilder();
            int parts = 1 + random.nextInt(12);
            for (int k = 0; k < parts; k++) sb.append(palette[random.nextInt(palette.length)]);
            String s = sb.toString();
            assertEquals(regexPieces(regex, s), splitterPieces(splitter, s), () -> "on " + s.codePoints()
                    .mapToObj(c -> String.format("U+%04X", c)).toList());
        }
    }

    private static List<String> regexPieces(Pattern regex, String s) {
        List<String> out = new ArrayList<>();
        Matcher m = regex.matcher(s);
        int at = 0;
        while (m.find()) {
            assertEquals(at, m.start(), "the regex skipped characters in " + s);
            out.add(m.group());
            at = m.end();
        }
        assertEquals(s.length(), at);
        return out;
    }

    private static List<String> splitterPieces(Splitter splitter, String s) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < s.length(); ) {
            int e = splitter.end(s, i);
            out.add(s.substring(i, e));
            i = e;
        }
        return out;
    }
}
