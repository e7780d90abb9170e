package millrace.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import millrace.dedup.DedupSettings;
import millrace.dedup.NearDuplicateSettings;
import picocli.CommandLine.Option;

/** How the dedup stage judges documents: shared by {@code dedup}, {@code up} and {@code run}. */
final class DedupOptions {
    @Option(names = "--no-filters", description = "Only exact and near duplicates: no quality or language filter, no PII redaction.")
    boolean noFilters;

    @Option(names = "--no-gopher-quality", description = "Turn off the Gopher quality rules.")
    boolean noGopherQuality;

    @Option(names = "--no-gopher-repetition", description = "Turn off the Gopher repetition rules.")
    boolean noGopherRepetition;

    @Option(names = "--no-c4", description = "Turn off the C4 rules.")
    boolean noC4;

    @Option(names = "--no-pii", description = "Do not redact e-mail and IP addresses.")
    boolean noPii;

    @Option(names = "--languages", split = ",", defaultValue = "en",
            description = "Allowed languages, ISO 639-1 (default: ${DEFAULT-VALUE}; 'any' turns the filter off).")
    List<String> languages = new ArrayList<>();

    @Option(names = "--language-threshold", defaultValue = "0.65", description = "Minimum confidence in an allowed language (default: ${DEFAULT-VALUE}).")
    double languageThreshold;

    @Option(names = "--shingle-size", defaultValue = "5", description = "Words per MinHash shingle (default: ${DEFAULT-VALUE}).")
    int shingleSize;

    @Option(names = "--bands", defaultValue = "14", description = "LSH bands (default: ${DEFAULT-VALUE}).")
    int bands;

    @Option(names = "--rows", defaultValue = "8", description = "LSH rows per band (default: ${DEFAULT-VALUE}).")
    int rows;

    @Option(names = "--similarity", defaultValue = "0.75",
            description = "Estimated Jaccard similarity at which an LSH candidate is a duplicate (default: ${DEFAULT-VALUE}).")
    double similarity;

    DedupSettings settings() {
        NearDuplicateSettings near = new NearDuplicateSettings(shingleSize, bands, rows, similarity, 1);
        if (noFilters) return DedupSettings.NO_FILTERS.withNearDuplicates(near);
        Set<String> langs = languages.contains("any") ? Set.of() : Set.copyOf(languages);
        return new DedupSettings(near, !noGopherQuality, !noGopherRepetition, !noC4, langs, languageThreshold, !noPii);
    }
}
