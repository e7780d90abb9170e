package millrace.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import millrace.ingest.Ingestor;
import millrace.ingest.TextFileReader;
import millrace.kafka.KafkaSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Writes files to {@code millrace.docs} of a running cluster. */
@Command(name = "ingest", mixinStandardHelpOptions = true,
        description = "Ingest .txt and .md files (directories recursively) into millrace.docs of a running cluster.")
final class IngestCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "PATH", description = "Files or directories.")
    List<Path> paths;

    @Option(names = "--kafka", defaultValue = "localhost:9092", description = "Bootstrap servers (default: ${DEFAULT-VALUE}).")
    String kafka;

    @Option(names = "--max-bytes", defaultValue = "67108864", description = "Files larger than this are rejected (default: ${DEFAULT-VALUE}).")
    long maxBytes;

    @Override
    public Integer call() {
        for (Path p : paths) {
            if (!Files.exists(p)) throw new IllegalArgumentException("no such file or directory: " + p);
        }
        try (Ingestor ingestor = new Ingestor(new KafkaSettings(kafka, "cli-" + PlatformOptions.pid()), maxBytes)) {
            Ingestor.Summary s = ingestor.ingest(paths);
            System.out.printf("%d documents (%d characters) written to millrace.docs, %d rejected%n",
                    s.documents(), s.bytes(), s.rejected());
        }
        return 0;
    }
}
