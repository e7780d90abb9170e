package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The hand-written o200k splitter cuts every string exactly where the regular expression does. */
class O200kSplitterTest {
    private static final Pattern REGEX = Pretokenizer.compile(Pretokenizer.O200K);
    private static final String[] PALETTE = {"a", "Z", "é", "ß", "ſ", "я", "中", "の", "ᚠ", "0", "7", "٣", "½", "Ⅻ", " ", "  ",
        "\t", "\n", "\r\n", "\r", "\u00A0", "\u2003", "\u3000", "\u0085", "\u001C", "'", "'s", "'S", "'ll", "'Re", "'ve",
        "'d", "'m", "'t", ".", ",", "!?", "-", "/", "😀", "🇩🇪", "\uD800", "\uDC00", "_", "#", "$", "x'", "don't",
        "Hello", "HTML", "iPhone", "Ǆ", "ǅ", "ʰ", "ʼ", "\u0301", "e\u0301", "\u0903", "\u20DD", "A\u0301b", "𝐀", "𝐚", "ΑΒγ", "I'M", "/\n"};

    private static List<String> regexPieces(String s) {
        List<String> out = new ArrayList<>();
        Matcher m = REGEX.matcher(s);
        int at = 0;
        while (m.find()) {
            assertEquals(at, m.start(), "the regex skipped characters in " + s);
            out.add(m.group());
            at = m.end();
        }
        assertEquals(s.length(), at);
        return out;
    }

    private static List<String> splitterPieces(String s) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < s.length(); ) {
            int e = O200kSplitter.end(s, i);
            out.add(s.substring(i, e));
            i = e;
        }
        return out;
    }

    @Test
    void agreesWithTheRegexOnRandomStrings() {
        Random random = new Random(7);
        for (int round = 0; round < 40_000; round++) {
            StringBuilder sb = new StringBuilder();
            int parts = 1 + random.nextInt(12);
            for (int k = 0; k < parts; k++) sb.append(PALETTE[random.nextInt(PALETTE.length)]);
            String s = sb.toString();
            assertEquals(regexPieces(s), splitterPieces(s), () -> "on " + s.codePoints()
                    .mapToObj(c -> String.format("U+%04X", c)).toList());
        }
    }
}
