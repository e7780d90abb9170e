package millrace.cli;

import millrace.model.BaseModel;
import millrace.model.CheckpointFormat;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.Future;
import millrace.kafka.Acknowledged;
import millrace.metrics.Metrics;
import millrace.protocol.JsonSerde;
import millrace.protocol.SftExample;
import millrace.protocol.Topics;
import millrace.sft.GcideInstructions;
import millrace.sft.SftData;
import millrace.sft.SftRun;
import millrace.sft.SftSettings;
import millrace.train.CheckpointStore;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code millrace sft}: supervised fine-tuning of a checkpoint into a chat model. */
@Command(name = "sft", mixinStandardHelpOptions = true,
        description = "Fine-tune a checkpoint on conversations (JSON Lines of {\"prompt\", \"response\"} or {\"messages\"}, "
                + "or the millrace.sft topic): ChatML turns, loss on the assistant's tokens only; checkpoints in the trainer's "
                + "format under --data-dir, resumable after a kill.",
        subcommands = {SftCommand.DataCommand.class, SftCommand.PublishCommand.class})
final class SftCommand implements Callable<Integer> {
    @Option(names = "--base", description = "The model to fine-tune: a checkpoint, or a Hugging Face model directory "
            + "(a chat model goes on in its own chat template; any other learns ChatML) (not needed to resume a run).")
    Path base;

    @Option(names = "--data", description = "A JSON Lines file of examples.")
    Path data;

    @Option(names = "--from-topic", description = "Read examples from millrace.sft instead of a file (with --kafka, or the data dir's broker).")
    boolean fromTopic;

    @Option(names = "--kafka", description = "Bootstrap servers, for --from-topic (default: the embedded broker of --data-dir).")
    String kafka;

    @Option(names = "--data-dir", defaultValue = "millrace-data", description = "Where checkpoints go (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--model-name", description = "The fine-tuned model's name (default: the base's name + \"-chat\").")
    String modelName;

    @Option(names = "--epochs", defaultValue = "3", description = "Passes over the file (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "16", description = "Examples per step (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "3e-4", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    float lr;

    @Option(names = "--min-lr", defaultValue = "3e-5", description = "Learning rate at the last step, after the cosine (default: ${DEFAULT-VALUE}).")
    float minLr;

    @Option(names = "--warmup-steps", defaultValue = "20", description = "Linear warm-up (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--max-steps", defaultValue = "0", description = "Stop after exactly this many steps, overriding "
            + "--epochs (the file again as often as it takes), as max_steps does in Hugging Face's Trainer and TRL (0: after "
            + "the epochs; required with --from-topic).")
    long maxSteps;

    @Option(names = "--seed", defaultValue = "1337", description = "Seed of each epoch's order (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--checkpoint-every", defaultValue = "30", description = "Seconds between checkpoints (default: ${DEFAULT-VALUE}).")
    long checkpointEvery;

    @Option(names = "--keep-checkpoints", defaultValue = "3", description = "Checkpoints kept (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--device", defaultValue = "auto", description = "cpu, gpu or auto: a GPU when libtorch sees one (default: ${DEFAULT-VALUE}); fp32.")
    String device;

    @Option(names = "--ops-port", defaultValue = "9404", description = "Port of /metrics, /health and /ready while it runs, for Prometheus (default: ${DEFAULT-VALUE}; 0: any free port; -1: none).")
    int opsPort;

    @Option(names = "--packing", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Pack examples back to back into rows of the model's context, each still seeing only itself "
                    + "(default); --no-packing: each example its own row, padded to the batch's longest.")
    boolean packing;

    @Override
    public Integer call() throws Exception {
        if ((data == null) == !fromTopic) throw new IllegalArgumentException("give --data FILE or --from-topic");
        if (data != null && !Files.isRegularFile(data)) throw new IllegalArgumentException("no such file: " + data);
        Metrics.init();
        String name = modelName;
        if (name == null) {
            if (base == null) throw new IllegalArgumentException("--model-name is required without --base");
            name = (BaseModel.of(base).huggingFace() ? base.toAbsolutePath().normalize().getFileName().toString()
                    : CheckpointFormat.readMeta(base).model()) + "-chat";
        }
        Path runDir = dataDir.resolve("checkpoints").resolve(name);
        if (base == null && new CheckpointStore(dataDir.resolve("checkpoints"), name, keep).latest().isEmpty()) {
            throw new IllegalArgumentException("no run " + name + " under " + runDir.getParent() + " to resume: give --base");
        }
        Path resumeBase = base != null ? base : runDir;
        SftSettings settings = new SftSettings(name, resumeBase, data, epochs, batchSize, lr, minLr, warmup, maxSteps, seed,
                checkpointEvery, keep, packing, device);
        io.vertx.core.Vertx ops = opsPort >= 0 ? io.vertx.core.Vertx.vertx() : null;
        try (SftRun run = new SftRun(settings, dataDir, line -> System.err.println(line))) {
            if (ops != null) {
                var metrics = new millrace.metrics.MetricsVerticle(opsPort, () -> true);
                ops.deployVerticle(metrics).toCompletionStage().toCompletableFuture().get();
                System.err.println("metrics on http://localhost:" + metrics.port() + "/metrics");
            }
            long steps;
            if (data != null) {
                SftData.Read read = read(data);
                Metrics.SFT_EXAMPLES.labelValues("malformed").inc(read.bad().size());
                List<SftRun.Row> rows = run.rows(read.examples());
                System.err.printf("%s: %d examples, %d bad lines skipped, %d examples fit the context%n", data,
                        read.examples().size(), read.bad().size(), rows.size());
                steps = run.trainFile(rows);
            } else {
                try (BrokerAccess access = BrokerAccess.open(kafka, dataDir, "sft", List.of(Topics.SFT))) {
                    steps = run.trainTopic(access.settings());
                }
            }
            System.out.println("fine-tuned " + steps + " steps; checkpoints in " + dataDir.resolve("checkpoints").resolve(name).toAbsolutePath());
        } finally {
            if (ops != null) ops.close().toCompletionStage().toCompletableFuture().get();
        }
        return 0;
    }

    /** A file's examples; its first bad lines printed with their numbers. */
    private static SftData.Read read(Path file) throws java.io.IOException {
        SftData.Read read = SftData.read(file);
        for (SftData.BadLine bad : read.bad().subList(0, Math.min(10, read.bad().size()))) {
            System.err.println(file + ":" + bad.line() + ": skipped: " + bad.reason());
        }
        if (read.bad().size() > 10) System.err.println(file + ": " + (read.bad().size() - 10) + " more lines skipped");
        return read;
    }

    @Command(name = "publish", mixinStandardHelpOptions = true,
            description = "Put the examples of a JSON Lines file on millrace.sft (acknowledged by every replica), where "
                    + "./millrace sft --from-topic reads them; bad lines are reported with their number and skipped.")
    static final class PublishCommand implements Callable<Integer> {
        @picocli.CommandLine.Parameters(index = "0", description = "A JSON Lines file of examples.")
        Path file;

        @Option(names = "--kafka", description = "Bootstrap servers (default: the embedded broker of --data-dir).")
        String kafka;

        @Option(names = "--data-dir", defaultValue = "millrace-data", description = "Its embedded broker (default: ${DEFAULT-VALUE}).")
        Path dataDir;

        @Override
        public Integer call() throws Exception {
            if (!Files.isRegularFile(file)) throw new IllegalArgumentException("no such file: " + file);
            SftData.Read read = read(file);
            try (BrokerAccess access = BrokerAccess.open(kafka, dataDir, "sft-publish", List.of(Topics.SFT));
                    KafkaProducer<String, byte[]> producer = new KafkaProducer<>(access.settings().producer("sft-publish"))) {
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                for (SftExample e : read.examples()) {
                    sent.add(producer.send(new ProducerRecord<>(Topics.SFT, e.id(), JsonSerde.sftExamples().toBytes(e))));
                }
                for (Future<RecordMetadata> f : sent) Acknowledged.await(f, "an example"); // every one, or the command fails
            }
            System.out.printf("published %d examples to %s; %d bad lines skipped%n", read.examples().size(), Topics.SFT, read.bad().size());
            return 0;
        }
    }

    @Command(name = "data", mixinStandardHelpOptions = true,
            description = "Build a small instruction set from installed real data: gcide (Debian's dict-gcide: \"What does the "
                    + "word X mean?\" → its first sense), with a fixed held-out split.")
    static final class DataCommand implements Callable<Integer> {
        @picocli.CommandLine.Parameters(index = "0", description = "The source: gcide.")
        String source;

        @Option(names = "--out", required = true, description = "Directory for train.jsonl and heldout.jsonl.")
        Path out;

        @Option(names = "--dict", defaultValue = "/usr/share/dictd/gcide.dict.dz", description = "The dictionary (default: ${DEFAULT-VALUE}; apt-get install dict-gcide).")
        Path dict;

        @Option(names = "--max-examples", defaultValue = "12000", description = "Examples in all, before the split (default: ${DEFAULT-VALUE}).")
        int max;

        @Option(names = "--max-words", defaultValue = "8", description = "Definitions of at most this many words: short answers a small model can learn to end (default: ${DEFAULT-VALUE}).")
        int maxWords;

        @Option(names = "--heldout-share", defaultValue = "0.05", description = "Share of words held out (default: ${DEFAULT-VALUE}).")
        double heldoutShare;

        @Override
        public Integer call() throws Exception {
            if (!source.equals("gcide")) throw new IllegalArgumentException("unknown source '" + source + "' (gcide)");
            if (!Files.isRegularFile(dict)) throw new IllegalArgumentException("no dictionary at " + dict + " (apt-get install dict-gcide)");
            List<GcideInstructions.Entry> entries = GcideInstructions.read(dict, maxWords);
            Files.createDirectories(out);
            int train = 0;
            int held = 0;
            try (BufferedWriter t = Files.newBufferedWriter(out.resolve("train.jsonl"), StandardCharsets.UTF_8);
                    BufferedWriter h = Files.newBufferedWriter(out.resolve("heldout.jsonl"), StandardCharsets.UTF_8)) {
                for (GcideInstructions.Entry e : entries.subList(0, Math.min(max, entries.size()))) {
                    String line = e.jsonLine() + "\n";
                    if (GcideInstructions.heldOut(e.word(), heldoutShare)) {
                        h.write(line);
                        held++;
                    } else {
                        t.write(line);
                        train++;
                    }
                }
            }
            System.out.printf("%d words with a clean first sense of at most %d words in %s; wrote %d training and %d held-out "
                    + "examples to %s%n", entries.size(), maxWords, dict, train, held, out.toAbsolutePath());
            return 0;
        }
    }
}
