package millrace.ingest;

import java.time.Duration;
import java.util.List;

/**
 * What the ingest role reads when it starts.
 *
 * @param inputs files, directories and http(s) URLs
 * @param options readers, globs and the in-flight bound
 * @param watchEvery when not null, rescan the (file) inputs this often and ingest new or changed files
 */
public record IngestSettings(List<String> inputs, Ingestor.Options options, Duration watchEvery) {
    public IngestSettings {
        inputs = List.copyOf(inputs);
    }

    public static IngestSettings of(List<String> inputs) {
        return new IngestSettings(inputs, Ingestor.Options.DEFAULT, null);
    }
}
