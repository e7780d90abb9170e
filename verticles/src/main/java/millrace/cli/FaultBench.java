package millrace.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import millrace.faults.FaultSuite;
import millrace.faults.StreamAudit;
import millrace.protocol.JsonSerde;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code bench faults}: the fault-injection suite ({@link FaultSuite}) with its figures. */
@Command(name = "faults", mixinStandardHelpOptions = true,
        description = "The broker and every role in its own process, a corpus streamed in while each role is killed with "
                + "SIGKILL and SIGTERM and the broker with SIGKILL, several times; then an audit (lost and duplicated per "
                + "stage), recovery times, and bad input at volume (mutated HTTP requests and ingest files).")
final class FaultBench implements Callable<Integer> {
    @Option(names = "--documents", defaultValue = "3000", description = "Valid documents streamed in (default: ${DEFAULT-VALUE}).")
    int documents;

    @Option(names = "--faults-per-kind", defaultValue = "3", description = "Faults of each kind: SIGKILL and SIGTERM per role, SIGKILL of the broker (default: ${DEFAULT-VALUE}).")
    int faultsPerKind;

    @Option(names = "--fuzz-requests", defaultValue = "3000", description = "Mutated HTTP requests (default: ${DEFAULT-VALUE}).")
    int fuzzRequests;

    @Option(names = "--fuzz-files", defaultValue = "200", description = "Mutated files for ingest (default: ${DEFAULT-VALUE}).")
    int fuzzFiles;

    @Option(names = "--seed", defaultValue = "7", description = "Seed of the fault plan, the corpus and the fuzzers (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--dir", description = "Working directory, kept afterwards (default: a temporary one, deleted).")
    Path dir;

    @Option(names = "--json", description = "End with one JSON line.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        // the harness's own broker probes fail on purpose while the broker is down: those warnings are not news
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.kafka", "error");
        Path work = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("millrace-faults-");
        FaultSuite.Report r;
        try {
            r = new FaultSuite(new FaultSuite.Settings(work, BenchSupport.repoFile("corpus/kjv"), seed, documents, 0.05, 150,
                    faultsPerKind, fuzzRequests, fuzzFiles, Duration.ofMinutes(10)), line -> System.err.println(line)).run();
        } finally {
            if (dir == null) millrace.train.CheckpointStore.deleteTree(work);
        }
        print(r);
        return r.passed() ? 0 : 1;
    }

    private void print(FaultSuite.Report r) throws Exception {
        Map<String, Integer> kinds = new TreeMap<>();
        Map<String, List<Double>> recovery = new TreeMap<>();
        for (FaultSuite.Fault f : r.faults()) {
            kinds.merge(f.kind() + "_" + (f.target().equals("broker") ? "broker" : "role"), 1, Integer::sum);
            recovery.computeIfAbsent(f.target(), k -> new ArrayList<>()).add(f.recoverySeconds());
        }
        System.out.printf("%d faults in %.0f s: %s%n", r.faults().size(), r.seconds(), kinds);
        System.out.println("| stage | audited | lost | duplicated |");
        System.out.println("|---|---|---|---|");
        r.audit().stages().forEach((stage, s) -> System.out.printf("| %s | %,d | %d | %d |%n", stage, s.audited(), s.lost(), s.duplicated()));
        r.audit().stages().forEach((stage, s) -> s.examples().forEach(e -> System.out.println("  " + stage + ": " + e)));
        System.out.println("| process | faults | recovery p50 | p95 |");
        System.out.println("|---|---|---|---|");
        recovery.forEach((p, xs) -> System.out.printf("| %s | %d | %.1f s | %.1f s |%n", p, xs.size(), BenchSupport.percentile(xs, 50), BenchSupport.percentile(xs, 95)));
        System.out.printf("HTTP fuzz: %d requests, %s, %d busy (503 with Retry-After), %d failures; %d rejections answered, %d counted%n",
                r.http().sent(), r.http().byStatus(), r.http().busy(), r.http().failures().size(), r.httpRejections(),
                r.httpRejectionsCounted());
        r.http().failures().stream().limit(5).forEach(f -> System.out.println("  " + f));
        System.out.printf("file fuzz: %d files, %d rejections on the topic, %d counted; processes that died by themselves: %s%n",
                r.fuzzFiles(), r.fileRejections(), r.fileRejectionsCounted(), r.unexpectedDeaths());
        System.out.println(r.passed() ? "PASSED: lost 0, duplicated 0" : "FAILED");
        if (!json) return;
        ObjectNode o = JsonSerde.MAPPER.createObjectNode();
        ObjectNode injected = o.putObject("faults_injected");
        kinds.forEach(injected::put);
        ObjectNode audited = o.putObject("records_audited");
        r.audit().stages().forEach((stage, s) -> audited.put(stage, s.audited()));
        o.put("lost", r.audit().lost());
        o.put("duplicated", r.audit().duplicated());
        ObjectNode byStage = o.putObject("by_stage");
        r.audit().stages().forEach((stage, s) -> byStage.putObject(stage).put("lost", s.lost()).put("duplicated", s.duplicated()));
        ObjectNode rec = o.putObject("recovery_seconds");
        recovery.forEach((p, xs) -> rec.putObject(p).put("p50", BenchSupport.percentile(xs, 50)).put("p95", BenchSupport.percentile(xs, 95)));
        ObjectNode http = o.putObject("http_fuzz");
        http.put("requests", r.http().sent()).put("busy", r.http().busy()).put("failures", r.http().failures().size())
                .put("rejections", r.httpRejections()).put("rejections_counted", r.httpRejectionsCounted());
        r.http().byStatus().forEach(http::put);
        o.putObject("file_fuzz").put("files", r.fuzzFiles()).put("rejections", r.fileRejections())
                .put("rejections_counted", r.fileRejectionsCounted());
        ObjectNode deaths = o.putObject("unexpected_deaths");
        r.unexpectedDeaths().forEach(deaths::put);
        o.put("seconds", r.seconds());
        o.put("passed", r.passed());
        System.out.println(JsonSerde.MAPPER.writeValueAsString(o));
    }

}
