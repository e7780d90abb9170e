package millrace.dedup;

import java.util.List;
import java.util.Set;
import millrace.protocol.RejectReason;

/**
 * The Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A; defaults as in datatrove's
 * GopherQualityFilter): word count and mean word length within bounds, few '#' and ellipses per word, not mostly
 * bullet lines or lines ending in an ellipsis, most words containing a letter, and at least two English stop words.
 */
public record GopherQualityFilter(int minWords, int maxWords, double minMeanWordLength, double maxMeanWordLength,
        double maxSymbolWordRatio, double maxBulletLines, double maxEllipsisLines, double minAlphaWords,
        int minStopWords) implements QualityFilter {

    public static final GopherQualityFilter DEFAULT = new GopherQualityFilter(50, 100_000, 3, 10, 0.1, 0.9, 0.3, 0.8, 2);

    private static final Set<String> STOP_WORDS = Set.of("the", "be", "to", "of", "and", "that", "have", "with");

    @Override
    public Outcome check(String text) {
        List<String> words = Words.of(text);
        List<String> nonSymbol = words.stream().filter(Words::hasLetterOrDigit).toList();
        int n = nonSymbol.size();
        if (n < minWords) return fail("gopher_short_doc", n + " words < " + minWords);
        if (n > maxWords) return fail("gopher_long_doc", n + " words > " + maxWords);
        double mean = nonSymbol.stream().mapToInt(String::length).average().orElse(0);
        if (mean < minMeanWordLength) return fail("gopher_below_avg_threshold", String.format("mean word length %.2f", mean));
        if (mean > maxMeanWordLength) return fail("gopher_above_avg_threshold", String.format("mean word length %.2f", mean));
        double hashes = (double) count(text, "#") / words.size();
        if (hashes > maxSymbolWordRatio) return fail("gopher_too_many_hashes", String.format("%.3f '#' per word", hashes));
        double ellipses = (double) (count(text, "...") + count(text, "\u2026")) / words.size();
        if (ellipses > maxSymbolWordRatio) return fail("gopher_too_many_ellipsis", String.format("%.3f ellipses per word", ellipses));
        List<String> lines = text.lines().toList();
        long bullets = lines.stream().map(String::stripLeading).filter(l -> l.startsWith("\u2022") || l.startsWith("-")).count();
        if ((double) bullets / lines.size() > maxBulletLines) return fail("gopher_too_many_bullets", bullets + " of " + lines.size() + " lines");
        long ellipsisEnds = lines.stream().map(String::stripTrailing).filter(l -> l.endsWith("...") || l.endsWith("\u2026")).count();
        if ((double) ellipsisEnds / lines.size() > maxEllipsisLines) {
            return fail("gopher_too_many_end_ellipsis", ellipsisEnds + " of " + lines.size() + " lines");
        }
        double alpha = (double) words.stream().filter(Words::hasLetter).count() / words.size();
        if (alpha < minAlphaWords) return fail("gopher_below_alpha_threshold", String.format("%.2f of words have a letter", alpha));
        long stops = words.stream().map(Words::bare).filter(STOP_WORDS::contains).count();
        if (stops < minStopWords) return fail("gopher_enough_stop_words", stops + " stop words < " + minStopWords);
        return new Pass(text);
    }

    private static Fail fail(String rule, String detail) {
        return new Fail(RejectReason.GOPHER_QUALITY, rule + ": " + detail);
    }

    static int count(String text, String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length())) n++;
        return n;
    }
}
