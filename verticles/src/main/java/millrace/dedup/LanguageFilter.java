package millrace.dedup;

import com.github.pemistahl.lingua.api.Language;
import com.github.pemistahl.lingua.api.LanguageDetector;
import com.github.pemistahl.lingua.api.LanguageDetectorBuilder;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import millrace.protocol.RejectReason;

/**
 * Language identification with Lingua (all 75 languages, low-accuracy mode: trigram models only, which is plenty
 * for documents and keeps memory and time small) on {@link #SAMPLE_CHARS} characters taken from its start, middle and
 * end (a book that opens with a list of names is still in English). A document passes
 * when its most likely language is on the allow-list (ISO 639-1 codes; empty = any) with at least the threshold
 * confidence — datatrove's LanguageFilter rule (there with fastText, threshold 0.65).
 */
public final class LanguageFilter implements QualityFilter {
    static final int SAMPLE_CHARS = 900;
    private static volatile LanguageDetector detector;

    private final Set<String> allowed;
    private final double threshold;

    /** The most likely language (ISO 639-1, or "unknown") and its confidence. */
    public record Identified(String language, double confidence) {}

    public LanguageFilter(Set<String> allowed, double threshold) {
        this.allowed = Set.copyOf(allowed);
        this.threshold = threshold;
    }

    public Identified identify(String text) {
        String sample = sample(text);
        SortedMap<Language, Double> values = detector().computeLanguageConfidenceValues(sample);
        if (values.isEmpty()) return new Identified("unknown", 0);
        Map.Entry<Language, Double> top = values.entrySet().iterator().next();
        return new Identified(top.getKey().getIsoCode639_1().toString().toLowerCase(Locale.ROOT), top.getValue());
    }

    static String sample(String text) {
        if (text.length() <= SAMPLE_CHARS) return text;
        int part = SAMPLE_CHARS / 3;
        StringBuilder sb = new StringBuilder(SAMPLE_CHARS + 2);
        for (int start : new int[] {0, (text.length() - part) / 2, text.length() - part}) {
            sb.append(text, start, start + part).append('\n');
        }
        return sb.toString();
    }

    @Override
    public Outcome check(String text) {
        return check(identify(text), text);
    }

    /** The verdict on an identification already made (the dedup stage identifies once and keeps the result). */
    public Outcome check(Identified id, String text) {
        if (allowed.isEmpty() || allowed.contains(id.language()) && id.confidence() >= threshold) return new Pass(text);
        return new Fail(RejectReason.LANGUAGE, String.format("%s (confidence %.2f), allowed %s at >= %.2f",
                id.language(), id.confidence(), allowed, threshold));
    }

    private static LanguageDetector detector() {
        LanguageDetector d = detector;
        if (d == null) {
            synchronized (LanguageFilter.class) {
                if (detector == null) detector = LanguageDetectorBuilder.fromAllLanguages().withLowAccuracyMode().build();
                d = detector;
            }
        }
        return d;
    }
}
