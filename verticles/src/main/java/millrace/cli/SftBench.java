package millrace.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import millrace.protocol.JsonSerde;
import millrace.protocol.SftExample;
import millrace.sft.GcideInstructions;
import millrace.sft.ScoredSequence;
import millrace.sft.SftData;
import millrace.sft.SftRun;
import millrace.sft.SftSettings;
import millrace.sft.SftStep;
import millrace.train.CheckpointStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Fine-tuning steps with the examples packed back to back into rows of the model's context against the same steps
 * with each example its own row, padded to the batch's longest: the same examples in the same order, each way in a
 * process of its own (so that each has its own peak memory), twice, alternating; the better run of each counts.
 */
@Command(name = "sft", mixinStandardHelpOptions = true,
        description = "Fine-tuning throughput with examples packed into rows of the context vs padded per example: "
                + "examples/s, tokens/s, the share of positions that hold a token, peak RSS; each in its own process, twice.")
final class SftBench implements Callable<Integer> {
    @Option(names = "--base", description = "The checkpoint to fine-tune (default: a fresh small model, r50k, context 64: speed does not depend on the weights).")
    Path base;

    @Option(names = "--data", description = "JSON Lines of examples (default: the gcide instruction set, from Debian's dict-gcide).")
    Path data;

    @Option(names = "--steps", defaultValue = "40", description = "Timed steps per run, after 5 warm-up steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--batch-size", defaultValue = "16", description = "Examples per step (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--only", hidden = true, description = "Run one layout in this process (packed or padded) and print its figures.")
    String only;

    private static final int WARMUP = 5;

    @Override
    public Integer call() throws Exception {
        if (only != null) {
            System.out.println(run(only.equals("packed")));
            return 0;
        }
        Path dir = Files.createTempDirectory("millrace-bench-sft-");
        try {
            Path checkpoint = base != null ? base : BenchSupport.freshCheckpoint(dir.resolve("base"), "small");
            Path examples = data != null ? data : gcide(dir.resolve("gcide.jsonl"));
            ObjectNode result = JsonSerde.MAPPER.createObjectNode();
            result.put("base", checkpoint.toString()).put("data", examples.toString()).put("steps", steps).put("batch_size", batchSize);
            ObjectNode best = result.putObject("runs");
            for (String layout : List.of("padded", "packed", "padded", "packed")) {
                JsonNode r = child(layout, checkpoint, examples);
                log("%s: %.1f examples/s, %.0f tokens/s, %.0f%% of positions hold a token, peak RSS %.0f MB", layout,
                        r.get("examples_per_s").asDouble(), r.get("tokens_per_s").asDouble(), 100 * r.get("fill").asDouble(),
                        r.get("peak_rss_mb").asDouble());
                if (!best.has(layout) || best.get(layout).get("examples_per_s").asDouble() < r.get("examples_per_s").asDouble()) {
                    best.set(layout, r);
                }
            }
            double ratio = best.get("packed").get("examples_per_s").asDouble() / best.get("padded").get("examples_per_s").asDouble();
            result.put("packed_over_padded", ratio);
            if (json) {
                System.out.println(result);
            } else {
                System.out.printf("fine-tuning %s on %s, batch %d, %d steps a run (best of 2 each):%n", checkpoint, examples,
                        batchSize, steps);
                for (String layout : List.of("padded", "packed")) {
                    JsonNode r = best.get(layout);
                    System.out.printf("  %-6s %6.1f examples/s %7.0f tokens/s  %3.0f%% of positions hold a token  %5.2f rows/step  peak RSS %4.0f MB%n",
                            layout, r.get("examples_per_s").asDouble(), r.get("tokens_per_s").asDouble(),
                            100 * r.get("fill").asDouble(), r.get("rows_per_step").asDouble(), r.get("peak_rss_mb").asDouble());
                }
                System.out.printf("packed / padded: %.2fx%n", ratio);
            }
        } finally {
            CheckpointStore.deleteTree(dir);
        }
        return 0;
    }

    /** One layout's run in a fresh JVM, with the same heap and options as this one. */
    private JsonNode child(String layout, Path checkpoint, Path examples) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "millrace.cli.Main", "bench", "sft", "--only", layout,
                "--base", checkpoint.toString(), "--data", examples.toString(), "--steps", Integer.toString(steps),
                "--batch-size", Integer.toString(batchSize)));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        if (p.waitFor() != 0) throw new IllegalStateException(layout + " run failed (exit " + p.exitValue() + ")");
        return JsonSerde.MAPPER.readTree(out.lines().reduce((a, b) -> b).orElse("{}"));
    }

    /** This process's run: warm-up, then {@code steps} timed steps over the examples in file order. */
    private ObjectNode run(boolean packed) throws Exception {
        Path dir = Files.createTempDirectory("millrace-bench-sft-run-");
        try (SftRun run = new SftRun(new SftSettings("bench", base, data, 1, batchSize, 1e-4f, 1e-5f, 0, 0, 1, 3600, 1, packed, "cpu"),
                dir, line -> { })) {
            List<SftExample> examples = SftData.read(data).examples();
            List<SftRun.Row> rows = run.rows(examples);
            int needed = (WARMUP + steps) * batchSize;
            if (rows.size() < needed) throw new IllegalArgumentException(data + " has " + rows.size() + " examples, the run needs " + needed);
            int block = run.trainer().model().config().contextLength();
            long tokens = 0;
            long positions = 0;
            long modelRows = 0;
            long started = 0;
            for (int s = 0; s < WARMUP + steps; s++) {
                if (s == WARMUP) started = System.nanoTime();
                List<ScoredSequence> batch = rows.subList(s * batchSize, (s + 1) * batchSize).stream().map(SftRun.Row::sequence).toList();
                SftStep.step(run.trainer(), batch, packed);
                if (s >= WARMUP) {
                    ScoredSequence.Layout layout = packed ? ScoredSequence.Layout.packed(batch, block) : ScoredSequence.Layout.padded(batch);
                    tokens += batch.stream().mapToLong(b -> b.ids().length - 1).sum();
                    positions += (long) layout.rows() * (layout.length() - 1);
                    modelRows += layout.rows();
                }
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            return JsonSerde.MAPPER.createObjectNode().put("layout", packed ? "packed" : "padded")
                    .put("examples_per_s", steps * batchSize / seconds).put("tokens_per_s", tokens / seconds)
                    .put("fill", (double) tokens / positions).put("rows_per_step", (double) modelRows / steps)
                    .put("seconds", seconds).put("peak_rss_mb", BenchSupport.peakRssMb());
        } finally {
            CheckpointStore.deleteTree(dir);
        }
    }

    /** The gcide instruction set's training part (definitions of at most 8 words), as {@code sft data gcide} writes it. */
    private static Path gcide(Path out) throws Exception {
        Path dict = Path.of("/usr/share/dictd/gcide.dict.dz");
        if (!Files.isRegularFile(dict)) throw new IllegalArgumentException("no --data and no " + dict + " (apt-get install dict-gcide)");
        List<String> lines = new ArrayList<>();
        for (GcideInstructions.Entry e : GcideInstructions.read(dict, 8)) {
            if (!GcideInstructions.heldOut(e.word(), 0.05)) lines.add(e.jsonLine());
        }
        Files.write(out, lines);
        return out;
    }

    private static void log(String format, Object... args) {
        System.err.printf(format + "%n", args);
    }
}
