package millrace.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import millrace.dedup.LocalDedup;
import millrace.ingest.Input;
import millrace.ingest.InputScanner;
import millrace.ingest.ReadResult;
import millrace.ingest.Readers;
import millrace.protocol.JsonSerde;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The dedup stage's code over a directory, with a report of every verdict. */
@Command(name = "dedup", mixinStandardHelpOptions = true,
        description = "Run the dedup stage's filters and near-duplicate detection over a directory (one document per "
                + "file, in sorted order) and write one JSON line per document.")
final class DedupCommand implements Callable<Integer> {
    @Option(names = "--input", required = true, description = "A directory (or file) of documents.")
    Path input;

    @Option(names = "--report", required = true, description = "Where to write the JSON Lines report.")
    Path report;

    @Mixin
    DedupOptions dedup;

    @Mixin
    IngestOptions ingest;

    @Override
    public Integer call() throws Exception {
        LocalDedup local = new LocalDedup(dedup.settings());
        Readers readers = new Readers(ingest.options().readers());
        InputScanner scanner = new InputScanner(ingest.include, ingest.exclude, ingest.maxBytes);
        Map<String, Integer> counts = new TreeMap<>();
        try (BufferedWriter out = Files.newBufferedWriter(report, StandardCharsets.UTF_8)) {
            List<ReadResult> results = new ArrayList<>();
            for (InputScanner.Found f : scanner.files(input, results::add)) {
                Input in = f.input();
                readers.read(in, results::add);
                for (ReadResult r : results) {
                    ObjectNode line = JsonSerde.MAPPER.createObjectNode();
                    if (r instanceof ReadResult.Read read) {
                        LocalDedup.Outcome o = local.judge(read.document());
                        line.put("source", o.doc().source());
                        line.put("verdict", o.verdict());
                        line.put("duplicate_of", o.duplicateOf() == null ? null : o.duplicateOf().source());
                        line.put("reason", o.reason());
                        if (o.detail() != null) line.put("detail", o.detail());
                        counts.merge(o.verdict(), 1, Integer::sum);
                    } else {
                        var rej = ((ReadResult.Refused) r).rejection();
                        line.put("source", rej.source());
                        line.put("verdict", "rejected");
                        line.putNull("duplicate_of");
                        line.put("reason", rej.reason().label());
                        line.put("detail", rej.detail());
                        counts.merge("rejected", 1, Integer::sum);
                    }
                    out.write(JsonSerde.MAPPER.writeValueAsString(line));
                    out.newLine();
                }
                results.clear();
            }
        }
        System.out.printf("%s; index: %d kept documents, about %d bytes each; report in %s%n", counts,
                local.index().keptCount(), local.index().keptCount() == 0 ? 0 : local.index().bytes() / local.index().keptCount(),
                report);
        return 0;
    }
}
