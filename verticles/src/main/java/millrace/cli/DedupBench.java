package millrace.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import millrace.dedup.DedupSettings;
import millrace.dedup.JaccardJoin;
import millrace.dedup.LocalDedup;
import millrace.dedup.MinHasher;
import millrace.dedup.NearDuplicateSettings;
import millrace.ingest.InputScanner;
import millrace.ingest.ReadResult;
import millrace.ingest.Readers;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Precision and recall of the streaming dedup against exact Jaccard ground truth on a real near-duplicate corpus
 * (two releases of the Linux kernel documentation), and its throughput against a NumPy re-implementation of
 * datatrove's MinHash signature stage on the same files.
 */
@Command(name = "dedup", mixinStandardHelpOptions = true,
        description = "Near-duplicate precision/recall against exact Jaccard ground truth (linux-doc 6.1 then 6.12), "
                + "and MB/s per core against a datatrove-style NumPy MinHash (bench/minhash_datatrove.py).")
final class DedupBench implements Callable<Integer> {
    @Option(names = "--corpus", split = ",", defaultValue = "/usr/share/doc/linux-doc-6.1,/usr/share/doc/linux-doc-6.12",
            description = "Directories streamed in this order (default: ${DEFAULT-VALUE}).")
    List<Path> corpus;

    @Option(names = "--include", split = ",", defaultValue = "Documentation/**.rst.gz,Documentation/**.txt.gz",
            description = "Files taken (default: ${DEFAULT-VALUE}).")
    List<String> include;

    @Option(names = "--threshold", defaultValue = "0.8", description = "Jaccard similarity that makes a duplicate (default: ${DEFAULT-VALUE}).")
    double threshold;

    @Option(names = "--similarity", defaultValue = "0.75", description = "The dedup stage's LSH verification threshold (default: ${DEFAULT-VALUE}).")
    double similarity;

    @Option(names = "--bands", defaultValue = "14", description = "LSH bands (default: ${DEFAULT-VALUE}).")
    int bands;

    @Option(names = "--rows", defaultValue = "8", description = "LSH rows per band (default: ${DEFAULT-VALUE}).")
    int rows;

    @Option(names = "--peer", defaultValue = "true", negatable = true, description = "Run the NumPy peer (default: ${DEFAULT-VALUE}).")
    boolean peer;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<Document> docs = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        Readers readers = new Readers(Readers.Settings.DEFAULT);
        InputScanner scanner = new InputScanner(include, List.of(), Readers.Settings.DEFAULT.maxBytes());
        for (Path root : corpus) {
            if (!Files.isDirectory(root)) throw new IllegalArgumentException(root + " is missing: apt-get install " + root.getFileName());
            for (InputScanner.Found f : scanner.files(root, r -> {})) {
                List<ReadResult> out = new ArrayList<>();
                readers.read(f.input(), out::add);
                for (ReadResult r : out) {
                    if (r instanceof ReadResult.Read read) {
                        docs.add(read.document());
                        files.add(f.path());
                    }
                }
            }
        }
        long bytes = docs.stream().mapToLong(d -> d.text().getBytes(StandardCharsets.UTF_8).length).sum();
        log("%d documents, %.1f MB of text from %s", docs.size(), bytes / 1e6, corpus);

        long t0 = System.nanoTime();
        List<long[]> shingles = docs.stream().map(d -> MinHasher.shingleHashes(d.text(), 5)).toList();
        JaccardJoin.Truth truth = JaccardJoin.greedy(shingles, threshold);
        double truthSeconds = (System.nanoTime() - t0) / 1e9;
        int truthDups = 0;
        for (int x : truth.duplicateOf()) if (x >= 0) truthDups++;
        log("ground truth (exact Jaccard >= %.2f, greedy in stream order): %d duplicates, %.1f s", threshold, truthDups, truthSeconds);

        DedupSettings settings = DedupSettings.NO_FILTERS.withNearDuplicates(
                new NearDuplicateSettings(5, bands, rows, similarity, 1));
        run(settings, docs); // warm-up: the JIT compiles the hot loops
        long t1 = System.nanoTime();
        Run result = run(settings, docs);
        double seconds = (System.nanoTime() - t1) / 1e9;
        Map<String, Integer> index = new HashMap<>();
        for (int i = 0; i < docs.size(); i++) index.put(docs.get(i).source(), i);
        int tp = 0;
        int fp = 0;
        int fn = 0;
        int namedOk = 0;
        for (int i = 0; i < docs.size(); i++) {
            boolean predicted = result.duplicateOf[i] != null;
            boolean actual = truth.duplicateOf()[i] >= 0;
            if (predicted && actual) tp++;
            if (predicted && !actual) fp++;
            if (!predicted && actual) fn++;
            if (predicted) {
                Integer of = index.get(result.duplicateOf[i]);
                if (of != null && JaccardJoin.jaccard(shingles.get(i), shingles.get(of)) >= threshold) namedOk++;
            }
        }
        double precision = tp + fp == 0 ? 1 : (double) tp / (tp + fp);
        double recall = tp + fn == 0 ? 1 : (double) tp / (tp + fn);
        double mbps = bytes / 1e6 / seconds;

        Double peerMbps = null;
        if (peer) peerMbps = runPeer(files);

        ObjectNode o = JsonSerde.MAPPER.createObjectNode();
        o.put("documents", docs.size()).put("mb", bytes / 1e6).put("threshold", threshold)
                .put("truth_duplicates", truthDups).put("predicted_duplicates", tp + fp).put("true_positives", tp)
                .put("precision", precision).put("recall", recall)
                .put("named_original_precision", (tp + fp) == 0 ? 1 : (double) namedOk / (tp + fp))
                .put("seconds", seconds).put("mb_per_s_per_core", mbps)
                .put("index_bytes_per_kept_document", result.bytesPerKept)
                .put("bands", bands).put("rows", rows).put("similarity", similarity);
        if (peerMbps != null) {
            o.put("peer", "datatrove-style NumPy MinHash (bench/minhash_datatrove.py)").put("peer_mb_per_s", peerMbps)
                    .put("ratio", mbps / peerMbps);
        }
        if (json) {
            System.out.println(JsonSerde.MAPPER.writeValueAsString(o));
        } else {
            System.out.printf("precision %.4f, recall %.4f at Jaccard >= %.2f (%d true duplicates, %d flagged, %d correct;"
                    + " named original really >= %.2f in %.4f)%n", precision, recall, threshold, truthDups, tp + fp, tp,
                    threshold, o.get("named_original_precision").asDouble());
            System.out.printf("throughput %.1f MB/s on one core (exact + MinHash + LSH, %d bands x %d rows), index %d bytes"
                    + " per kept document%n", mbps, bands, rows, result.bytesPerKept);
            if (peerMbps != null) {
                System.out.printf("peer: datatrove-style NumPy MinHash signatures %.2f MB/s on one core -> Millrace %.1fx%n",
                        peerMbps, mbps / peerMbps);
            }
        }
        return 0;
    }

    private record Run(String[] duplicateOf, long bytesPerKept) {}

    private static Run run(DedupSettings settings, List<Document> docs) {
        LocalDedup dedup = new LocalDedup(settings);
        String[] duplicateOf = new String[docs.size()];
        for (int i = 0; i < docs.size(); i++) {
            LocalDedup.Outcome o = dedup.judge(docs.get(i));
            if (o.verdict().equals("duplicate")) duplicateOf[i] = o.duplicateOf().source();
        }
        int kept = dedup.index().keptCount();
        return new Run(duplicateOf, kept == 0 ? 0 : dedup.index().bytes() / kept);
    }

    private Double runPeer(List<Path> files) throws Exception {
        Path script = BenchSupport.repoFile("bench/minhash_datatrove.py");
        Path list = Files.createTempFile("millrace-dedup-files", ".txt");
        Files.write(list, files.stream().map(Path::toString).toList());
        try {
            Process p = new ProcessBuilder("python3", script.toString(), list.toString())
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(3600, TimeUnit.SECONDS) || p.exitValue() != 0) {
                log("peer failed (python3 with numpy needed): %s", out);
                return null;
            }
            return JsonSerde.MAPPER.readTree(out).get("mb_per_s").asDouble();
        } finally {
            Files.deleteIfExists(list);
        }
    }

    private static void log(String format, Object... args) {
        System.err.printf(format + "%n", args);
    }
}
