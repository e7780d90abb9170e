package millrace.dedup;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import millrace.protocol.RejectReason;

/**
 * The Gopher repetition rules (Rae et al. 2021, table A1; defaults as in datatrove's GopherRepetitionFilter): the
 * share of duplicated lines and paragraphs (by count and by characters), the character share of the most frequent
 * 2-, 3- and 4-gram, and the character share of duplicated 5- to 10-grams.
 */
public record GopherRepetitionFilter(double dupLineFraction, double dupParagraphFraction, double dupLineCharFraction,
        double dupParagraphCharFraction, double[] topNgramFractions, double[] dupNgramFractions)
        implements QualityFilter {

    /** topNgramFractions[i] is for (i+2)-grams; dupNgramFractions[i] for (i+5)-grams. */
    public static final GopherRepetitionFilter DEFAULT = new GopherRepetitionFilter(0.3, 0.3, 0.2, 0.2,
            new double[] {0.20, 0.18, 0.16}, new double[] {0.15, 0.14, 0.13, 0.12, 0.11, 0.10});

    @Override
    public Outcome check(String text) {
        String stripped = text.strip();
        List<String> paragraphs = List.of(stripped.split("\n{2,}"));
        long[] dupParagraphs = duplicates(paragraphs);
        if ((double) dupParagraphs[0] / paragraphs.size() > dupParagraphFraction) {
            return fail("dup_para_frac", dupParagraphs[0] + " of " + paragraphs.size() + " paragraphs repeat");
        }
        if ((double) dupParagraphs[1] / text.length() > dupParagraphCharFraction) {
            return fail("dup_para_char_frac", dupParagraphs[1] + " of " + text.length() + " characters");
        }
        List<String> lines = List.of(stripped.split("\n+"));
        long[] dupLines = duplicates(lines);
        if ((double) dupLines[0] / lines.size() > dupLineFraction) {
            return fail("dup_line_frac", dupLines[0] + " of " + lines.size() + " lines repeat");
        }
        if ((double) dupLines[1] / text.length() > dupLineCharFraction) {
            return fail("dup_line_char_frac", dupLines[1] + " of " + text.length() + " characters");
        }
        List<String> words = Words.of(text);
        for (int i = 0; i < topNgramFractions.length; i++) {
            int n = i + 2;
            double share = (double) topNgramChars(words, n) / text.length();
            if (share > topNgramFractions[i]) return fail("top_" + n + "_gram", String.format("%.3f of characters", share));
        }
        for (int i = 0; i < dupNgramFractions.length; i++) {
            int n = i + 5;
            double share = (double) duplicatedNgramChars(words, n) / text.length();
            if (share > dupNgramFractions[i]) {
                return fail("duplicated_" + n + "_n_grams", String.format("%.3f of characters", share));
            }
        }
        return new Pass(text);
    }

    private static Fail fail(String rule, String detail) {
        return new Fail(RejectReason.GOPHER_REPETITION, rule + ": " + detail);
    }

    /** {count of elements equal to an earlier one, their characters}. */
    private static long[] duplicates(List<String> elements) {
        Set<String> seen = new HashSet<>();
        long count = 0;
        long chars = 0;
        for (String e : elements) {
            if (!seen.add(e)) {
                count++;
                chars += e.length();
            }
        }
        return new long[] {count, chars};
    }

    /** Characters covered by the most frequent n-gram: its length (words joined by spaces) times its count. */
    private static long topNgramChars(List<String> words, int n) {
        if (words.size() < n) return 0;
        Map<String, Integer> counts = new HashMap<>();
        long best = 0;
        for (int i = 0; i + n <= words.size(); i++) {
            String gram = String.join(" ", words.subList(i, i + n));
            int c = counts.merge(gram, 1, Integer::sum);
            if (c > 1) best = Math.max(best, (long) gram.length() * c);
        }
        return best;
    }

    /** Characters in n-grams that repeat an earlier one, not counting overlapping repeats twice (datatrove's rule). */
    private static long duplicatedNgramChars(List<String> words, int n) {
        Set<String> unique = new HashSet<>();
        long repeated = 0;
        int i = 0;
        while (i + n <= words.size()) {
            String gram = String.join("", words.subList(i, i + n));
            if (!unique.add(gram)) {
                repeated += gram.length();
                i += n;
            } else {
                i++;
            }
        }
        return repeated;
    }
}
