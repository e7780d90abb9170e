package millrace.dedup;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import millrace.protocol.RejectReason;

/**
 * The C4 rules (Raffel et al. 2020, section 2.2; defaults as in datatrove's C4QualityFilter). Lines are cleaned:
 * citation markers removed, lines with fewer than 3 words, a word over 1000 characters, "javascript" or a
 * cookie/terms/privacy notice dropped (and, when {@code requireTerminalPunctuation}, lines not ending in terminal
 * punctuation — FineWeb turns that rule off, and so does the default here). A document with "lorem ipsum" or a
 * curly brace, or with fewer than 5 sentences left, is rejected. The cleaned text is what passes on.
 */
public record C4QualityFilter(boolean requireTerminalPunctuation, int minSentences, int minWordsPerLine,
        int maxWordLength) implements QualityFilter {

    public static final C4QualityFilter DEFAULT = new C4QualityFilter(false, 5, 3, 1000);

    private static final Pattern CITATION = Pattern.compile("\\[\\d*]|\\[edit]|\\[citation needed]");
    private static final List<String> POLICY = List.of("terms of use", "privacy policy", "cookie policy",
            "uses cookies", "use of cookies", "use cookies");
    private static final Pattern SENTENCE_END = Pattern.compile("[.!?]+(?=[\\s\"')\\]]|$)");

    @Override
    public Outcome check(String text) {
        List<String> kept = new ArrayList<>();
        for (String raw : text.split("\n")) {
            String line = CITATION.matcher(raw.strip()).replaceAll("");
            if (line.isEmpty()) {
                if (!kept.isEmpty() && !kept.get(kept.size() - 1).isEmpty()) kept.add(""); // keep paragraph breaks
                continue;
            }
            String lower = line.toLowerCase(Locale.ROOT);
            if (lower.contains("lorem ipsum")) return fail("lorem_ipsum", "contains \"lorem ipsum\"");
            if (line.indexOf('{') >= 0) return fail("curly_bracket", "contains '{'");
            List<String> words = Words.of(line);
            if (words.stream().anyMatch(w -> w.length() > maxWordLength)) continue;
            if (words.size() < minWordsPerLine) continue;
            if (lower.contains("javascript")) continue;
            if (POLICY.stream().anyMatch(lower::contains)) continue;
            if (requireTerminalPunctuation && !endsLikeASentence(line)) continue;
            kept.add(line);
        }
        String cleaned = String.join("\n", kept).strip();
        long sentences = 0;
        for (String line : kept) {
            if (line.isEmpty()) continue;
            sentences += SENTENCE_END.matcher(line).results().count();
            if (!endsLikeASentence(line)) sentences++; // a last sentence without a stop
        }
        if (sentences < minSentences) return fail("too_few_sentences", sentences + " sentences < " + minSentences);
        return new Pass(cleaned);
    }

    private static boolean endsLikeASentence(String line) {
        return (line.endsWith(".") || line.endsWith("?") || line.endsWith("!") || line.endsWith("\"")
                || line.endsWith("'")) && !line.endsWith("...");
    }

    private static Fail fail(String rule, String detail) {
        return new Fail(RejectReason.C4_QUALITY, rule + ": " + detail);
    }
}
