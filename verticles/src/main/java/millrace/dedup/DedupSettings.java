package millrace.dedup;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * How the dedup stage judges documents: which quality filters run (each with datatrove's default thresholds), the
 * language allow-list, PII redaction, and the MinHash LSH parameters.
 *
 * @param languages ISO 639-1 codes a document must be in; empty: no language filter (and no identification)
 */
public record DedupSettings(NearDuplicateSettings nearDuplicates, boolean gopherQuality, boolean gopherRepetition,
        boolean c4, Set<String> languages, double languageThreshold, boolean redactPii) {

    public static final DedupSettings DEFAULT =
            new DedupSettings(NearDuplicateSettings.DEFAULT, true, true, true, Set.of("en"), 0.65, true);

    /** Exact and near duplicates only: {@code millrace dedup --no-filters}. */
    public static final DedupSettings NO_FILTERS =
            new DedupSettings(NearDuplicateSettings.DEFAULT, false, false, false, Set.of(), 0.65, false);

    public DedupSettings {
        languages = Set.copyOf(languages);
    }

    public DedupSettings withNearDuplicates(NearDuplicateSettings near) {
        return new DedupSettings(near, gopherQuality, gopherRepetition, c4, languages, languageThreshold, redactPii);
    }

    /**
     * The enabled filters after the language filter (which {@link DocumentScreen} runs first: the Gopher stop-word
     * rule is English), in FineWeb's order: Gopher repetition, Gopher quality, and C4, whose line cleaning shapes the
     * text that passes on.
     */
    List<QualityFilter> filters() {
        List<QualityFilter> out = new ArrayList<>();
        if (gopherRepetition) out.add(GopherRepetitionFilter.DEFAULT);
        if (gopherQuality) out.add(GopherQualityFilter.DEFAULT);
        if (c4) out.add(C4QualityFilter.DEFAULT);
        return out;
    }
}
