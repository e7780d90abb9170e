package millrace.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import millrace.ingest.InputScanner;
import millrace.ingest.Ingestor;
import millrace.kafka.KafkaSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Writes files, directories and URLs to {@code millrace.docs} of a running cluster. */
@Command(name = "ingest", mixinStandardHelpOptions = true,
        description = "Ingest text, Markdown, HTML, JSON Lines and WARC (each optionally gzipped; directories "
                + "recursively; http(s) URLs) into millrace.docs of a running cluster.")
final class IngestCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "PATH|URL", description = "Files, directories or http(s) URLs.")
    List<String> inputs;

    @Option(names = "--kafka", defaultValue = "localhost:9092", description = "Bootstrap servers (default: ${DEFAULT-VALUE}).")
    String kafka;

    @Mixin
    IngestOptions options;

    @Override
    public Integer call() throws InterruptedException {
        for (String p : inputs) {
            if (!InputScanner.isUrl(p) && !Files.exists(Path.of(p))) {
                throw new IllegalArgumentException("no such file or directory: " + p);
            }
        }
        try (Ingestor ingestor = new Ingestor(new KafkaSettings(kafka, "cli-" + ProcessOptions.pid()), options.options())) {
            if (options.watchSeconds != null) {
                System.out.println("watching " + inputs + " every " + options.watchSeconds + " s; Ctrl-C stops");
                ingestor.watch(inputs, java.time.Duration.ofSeconds(options.watchSeconds), () -> false);
                return 0;
            }
            Ingestor.Summary s = ingestor.ingest(inputs);
            System.out.printf("%d documents (%d characters) written to millrace.docs, %d rejected%n",
                    s.documents(), s.bytes(), s.rejected());
        }
        return 0;
    }
}
