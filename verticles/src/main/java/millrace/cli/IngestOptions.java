package millrace.cli;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import millrace.ingest.IngestSettings;
import millrace.ingest.Ingestor;
import millrace.ingest.Readers;
import picocli.CommandLine.Option;

/** How inputs are read: shared by {@code ingest}, {@code up} and {@code run}. */
final class IngestOptions {
    @Option(names = "--include", split = ",", description = "Globs of files to take in directories (default: every file with a reader: "
            + ".txt .md .html .jsonl .warc, each optionally .gz).")
    List<String> include = new ArrayList<>();

    @Option(names = "--exclude", split = ",", description = "Globs of files to leave out.")
    List<String> exclude = new ArrayList<>();

    @Option(names = "--text-field", defaultValue = "text", description = "JSON Lines field holding the text (default: ${DEFAULT-VALUE}).")
    String textField;

    @Option(names = "--id-field", defaultValue = "id", description = "JSON Lines field identifying a record (default: ${DEFAULT-VALUE}; the line number where absent).")
    String idField;

    @Option(names = "--max-bytes", defaultValue = "67108864", description = "Documents larger than this are rejected (default: ${DEFAULT-VALUE}).")
    long maxBytes;

    @Option(names = "--watch", paramLabel = "SECONDS", description = "Keep running and ingest new or changed files, rescanning this often.")
    Integer watchSeconds;

    Ingestor.Options options() {
        return new Ingestor.Options(new Readers.Settings(maxBytes, textField, idField), include, exclude, 1000);
    }

    IngestSettings settings(List<String> inputs) {
        return new IngestSettings(inputs, options(), watchSeconds == null ? null : Duration.ofSeconds(watchSeconds));
    }
}
