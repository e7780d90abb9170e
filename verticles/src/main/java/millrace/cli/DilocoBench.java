package millrace.cli;

import millrace.model.ModelConfig;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import millrace.kafka.EmbeddedKafka;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicSetup;
import millrace.model.Gpt2Config;
import millrace.protocol.JsonSerde;
import millrace.protocol.ShardDoc;
import millrace.protocol.Split;
import millrace.protocol.SyncMessage;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import millrace.tokenizer.TextTokenizer;
import millrace.tokenizer.Tokenizers;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./millrace bench diloco}: one model trained on the same token budget by one trainer, and by N replicas that
 * sync every H steps over {@code millrace.sync} (each replica its own process on its own core), all real
 * {@code millrace train} processes against an embedded broker. Reports both validation losses on held-out rows, the
 * bytes the replicas put on the sync topic, and what data-parallel training would move with an all-reduce every step.
 */
@Command(name = "diloco", mixinStandardHelpOptions = true,
        description = "One trainer against N DiLoCo replicas on the same tokens: validation loss and bytes moved per token, "
                + "against an all-reduce of fp32 gradients every step.")
final class DilocoBench implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "small", description = "Model preset (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--steps", defaultValue = "800", description = "The single trainer's steps; each replica takes steps / replicas (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--replicas", defaultValue = "2", description = "Replicas of the DiLoCo run (default: ${DEFAULT-VALUE}).")
    int replicas;

    @Option(names = "--sync-every", defaultValue = "50", description = "H: inner steps per round (default: ${DEFAULT-VALUE}).")
    int syncEvery;

    @Option(names = "--sync-encoding", defaultValue = "FP16", description = "FP16 or INT8 (default: ${DEFAULT-VALUE}).")
    SyncMessage.Encoding encoding;

    @Option(names = "--outer-lr", defaultValue = "0.7", description = "Outer Nesterov learning rate (default: ${DEFAULT-VALUE}, the paper's).")
    String outerLr;

    @Option(names = "--outer-momentum", defaultValue = "0.9", description = "Outer Nesterov momentum (default: ${DEFAULT-VALUE}, the paper's).")
    String outerMomentum;

    @Option(names = "--batch-size", defaultValue = "8", description = "Rows per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seq-len", defaultValue = "64", description = "Tokens per row (default: ${DEFAULT-VALUE}).")
    int seq;

    @Option(names = "--lr", defaultValue = "3e-3", description = "Peak inner learning rate of every trainer (default: ${DEFAULT-VALUE}).")
    String lr;

    @Option(names = "--validation-rows", defaultValue = "256", description = "Held-out rows the losses are measured on (default: ${DEFAULT-VALUE}).")
    int validationRows;

    @Option(names = "--json", description = "End with one JSON line.")
    boolean json;

    private static final int ROWS_PER_SHARD = 16;

    @Override
    public Integer call() throws Exception {
        if (steps % replicas != 0 || (steps / replicas) % syncEvery != 0) {
            throw new IllegalArgumentException("--steps / --replicas must be a multiple of --sync-every");
        }
        int cores = Runtime.getRuntime().availableProcessors();
        TextTokenizer tokenizer = Tokenizers.load("r50k");
        int[] ids = BenchSupport.kjvTokens(tokenizer);
        int rowLength = seq + 1;
        int rowsNeeded = steps * batch;
        int available = ids.length / rowLength;
        if (available < rowsNeeded + validationRows) {
            throw new IllegalArgumentException("the corpus makes " + available + " rows; " + (rowsNeeded + validationRows) + " needed");
        }
        // held out: the corpus's last rows, never published
        List<int[]> validation = new ArrayList<>();
        for (int r = available - validationRows; r < available; r++) {
            validation.add(Arrays.copyOfRange(ids, r * rowLength, (r + 1) * rowLength));
        }
        ModelConfig config = ModelConfig.preset(model, tokenizer.vocabSize(), seq);
        System.out.printf("%s, batch %d x %d, %d steps = %,d tokens; %d replicas, H = %d, %s, outer Nesterov lr %s momentum %s; %d cores%n",
                model, batch, seq, steps, (long) rowsNeeded * seq, replicas, syncEvery, encoding, outerLr, outerMomentum, cores);

        Path dir = Files.createTempDirectory("millrace-bench-diloco-");
        EmbeddedKafka broker = new EmbeddedKafka(dir.resolve("kafka"), 0).start();
        try {
            KafkaSettings kafka = new KafkaSettings(broker.bootstrapServers(), "bench-diloco");
            int partitions = 2 * replicas;
            TopicSetup.ensureTopics(kafka, partitions, TopicSetup.AUTO_REPLICATION);

            // the replicas first: they are in their group, one share of the partitions each, before a shard exists
            List<Process> run = new ArrayList<>();
            for (int i = 0; i < replicas; i++) {
                run.add(trainer(kafka, dir, "diloco", "r" + i, steps / replicas, List.of("taskset", "-c", "" + (i % cores)), 1,
                        List.of("--diloco", "--sync-every", "" + syncEvery, "--sync-encoding", encoding.name(), "--sync-timeout", "600",
                                "--outer-lr", outerLr, "--outer-momentum", outerMomentum)));
            }
            awaitMembers(kafka, "millrace-train.diloco", replicas, partitions, run);
            publish(kafka, ids, rowLength, rowsNeeded, partitions, tokenizer.id());
            long started = System.nanoTime();
            double[] runPeak = awaitExit(run, 3600);
            double dilocoSeconds = (System.nanoTime() - started) / 1e9;
            System.out.printf("DiLoCo: %d replicas x %d steps in %.0f s; peak RSS per replica %s MB%n", replicas,
                    steps / replicas, dilocoSeconds, Arrays.toString(Arrays.stream(runPeak).map(Math::round).toArray()));

            started = System.nanoTime();
            double[] singlePeak = awaitExit(List.of(trainer(kafka, dir, "single", "single", steps, List.of(), cores, List.of())), 3600);
            double singleSeconds = (System.nanoTime() - started) / 1e9;
            System.out.printf("one trainer: %d steps in %.0f s (%d threads); peak RSS %.0f MB%n", steps, singleSeconds, cores, singlePeak[0]);

            Path checkpoints = dir.resolve("data/checkpoints");
            Path single = newest(checkpoints.resolve("single"));
            List<Path> replicaFinals = new ArrayList<>();
            for (int i = 0; i < replicas; i++) replicaFinals.add(newest(checkpoints.resolve("diloco/replicas/r" + i)));
            TrainSettings eval = new TrainSettings("eval", config, "r50k", batch, TrainSettings.tinyDemo("r50k", config.vocabSize(), seq).schedule(),
                    1f, millrace.model.AdamW.Settings.defaults(), 1, 3600, 1, 0);
            double singleLoss = finalOf(single, eval, validation).loss();
            Final first = finalOf(replicaFinals.get(0), eval, validation);
            double dilocoLoss = first.loss();
            float[] weights = first.weights();
            long parameters = weights.length;
            boolean identical = true;
            for (Path other : replicaFinals.subList(1, replicas)) identical &= Arrays.equals(weights, finalOf(other, eval, null).weights());

            long syncBytes = syncBytes(kafka, "diloco");
            long tokens = (long) rowsNeeded * seq;
            // every record crosses the network twice and more: to the broker, then to each of the N replicas
            double dilocoPerToken = (double) syncBytes * (1 + replicas) / tokens;
            // ring all-reduce of fp32 gradients, every step: each replica sends and receives 2(N-1)/N of them
            double allReducePerStep = replicas * 2 * (2.0 * (replicas - 1) / replicas) * 4 * parameters;
            double allReducePerToken = allReducePerStep * (steps / replicas) / tokens;
            double reduction = allReducePerToken / dilocoPerToken;
            double lossRatio = dilocoLoss / singleLoss;
            System.out.printf("validation loss (%d held-out rows): one trainer %.4f, DiLoCo %.4f (%+.1f%%); replicas' final weights %s%n",
                    validationRows, singleLoss, dilocoLoss, 100 * (lossRatio - 1), identical ? "bit-identical" : "DIFFER");
            System.out.printf("bytes per token (%,d parameters): DiLoCo %.1f (%,d bytes on millrace.sync), all-reduce every step %.1f: %.0fx less%n",
                    parameters, dilocoPerToken, syncBytes, allReducePerToken, reduction);
            if (json) {
                ObjectNode out = JsonSerde.MAPPER.createObjectNode();
                out.put("model", model).put("parameters", parameters).put("replicas", replicas).put("sync_every", syncEvery)
                        .put("encoding", encoding.name()).put("outer_lr", Float.parseFloat(outerLr))
                        .put("outer_momentum", Float.parseFloat(outerMomentum)).put("steps", steps).put("tokens", tokens).put("cores", cores);
                out.putObject("validation_loss").put("single", singleLoss).put("diloco", dilocoLoss).put("ratio", lossRatio);
                out.putObject("bytes_per_token").put("diloco", dilocoPerToken).put("allreduce_every_step", allReducePerToken);
                out.put("communication_reduction", reduction).put("sync_bytes", syncBytes).put("replicas_bit_identical", identical);
                out.putObject("seconds").put("single", singleSeconds).put("diloco", dilocoSeconds);
                ObjectNode peak = out.putObject("peak_rss_mb");
                peak.put("single", singlePeak[0]);
                var perReplica = peak.putArray("replicas");
                for (double p : runPeak) perReplica.add(p);
                System.out.println(out);
            }
            return 0;
        } finally {
            broker.close();
            CheckpointStore.deleteTree(dir);
        }
    }

    /** A {@code millrace train} process of {@code name}, stopping at {@code maxSteps}, its decay as long as its run. */
    private Process trainer(KafkaSettings kafka, Path dir, String name, String instance, int maxSteps, List<String> prefix,
            int threads, List<String> more) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of(java, "-Xmx2g", "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_threads=" + threads,
                "-cp", System.getProperty("java.class.path"), "millrace.cli.Main", "train",
                "--kafka", kafka.bootstrapServers(), "--data-dir", dir.resolve("data").toString(), "--tokenizer", "r50k",
                "--seq-len", "" + seq, "--batch-size", "" + batch, "--model", model, "--model-name", name,
                "--instance-id", instance, "--ops-port", "0", "--eval-every", "0", "--checkpoint-every", "600",
                "--max-steps", "" + maxSteps, "--lr", lr, "--warmup-steps", "" + Math.max(1, maxSteps / 40),
                "--decay-steps", "" + maxSteps));
        cmd.addAll(more);
        return new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve(instance + ".log").toFile()).start();
    }

    private static void awaitMembers(KafkaSettings kafka, String group, int members, int partitions, List<Process> run) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        try (Admin admin = Admin.create(kafka.admin())) {
            while (true) {
                for (Process p : run) {
                    if (!p.isAlive()) throw new IllegalStateException("a replica died before training (exit " + p.exitValue() + ")");
                }
                if (System.nanoTime() > deadline) throw new IllegalStateException("replicas not in their group after 3 min");
                Thread.sleep(500);
                org.apache.kafka.clients.admin.ConsumerGroupDescription d;
                try {
                    d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                } catch (java.util.concurrent.ExecutionException e) {
                    continue; // no group yet: the replicas are still starting
                }
                long holding = d.members().stream().filter(m -> m.assignment().topicPartitions().size() == partitions / members).count();
                if (d.members().size() == members && holding == members) return;
            }
        }
    }

    /** {@code rows} rows of the corpus as shards, round-robin over the partitions. */
    private void publish(KafkaSettings kafka, int[] ids, int rowLength, int rows, int partitions, String tokenizerId) throws Exception {
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(kafka.producer("bench-diloco"))) {
            for (int s = 0, row = 0; row < rows; s++) {
                int n = Math.min(ROWS_PER_SHARD, rows - row);
                int[] tokens = Arrays.copyOfRange(ids, row * rowLength, (row + n) * rowLength);
                TokenShard shard = new TokenShard("kjv-" + s, tokenizerId, seq, Split.TRAIN, List.of(new ShardDoc("kjv-" + s, 0)), tokens);
                producer.send(new ProducerRecord<>(Topics.SHARDS, s % partitions, shard.id(), TokenShardCodec.encode(shard)));
                row += n;
            }
            producer.flush();
        }
    }

    /** Waits for every process to exit 0; their peak RSS (sampled while they run), in MiB. */
    private static double[] awaitExit(List<Process> processes, int seconds) throws Exception {
        double[] peak = new double[processes.size()];
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (processes.stream().anyMatch(Process::isAlive)) {
            for (int i = 0; i < peak.length; i++) {
                double p = BenchSupport.peakRssMb(processes.get(i).pid());
                if (!Double.isNaN(p)) peak[i] = Math.max(peak[i], p);
            }
            if (System.nanoTime() > deadline) {
                processes.forEach(Process::destroyForcibly);
                throw new IllegalStateException("trainers still running after " + seconds + " s");
            }
            Thread.sleep(250);
        }
        for (Process p : processes) {
            if (p.exitValue() != 0) throw new IllegalStateException("a trainer exited with " + p.exitValue());
        }
        return peak;
    }

    private static Path newest(Path modelDir) throws Exception {
        Optional<Path> latest = new CheckpointStore(modelDir.getParent(), modelDir.getFileName().toString(), 1).latest();
        return latest.orElseThrow(() -> new IllegalStateException("no checkpoint in " + modelDir));
    }

    /** A final checkpoint's loss on the held-out rows (NaN without rows) and its weights. */
    private record Final(double loss, float[] weights) {}

    /** Loads {@code checkpoint} once for both. */
    private static Final finalOf(Path checkpoint, TrainSettings settings, List<int[]> rows) throws Exception {
        try (NDManager root = ModelTrainer.newRootManager(); ModelTrainer t = CheckpointStore.resume(checkpoint, settings, root)) {
            return new Final(rows == null ? Double.NaN : t.evaluate(rows), t.weightVector());
        }
    }

    /** Bytes (keys and values) of every record of {@code model} on millrace.sync. */
    private static long syncBytes(KafkaSettings kafka, String model) {
        TopicPartition p = new TopicPartition(Topics.SYNC, 0);
        long bytes = 0;
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(kafka.consumer(null, 64))) {
            c.assign(List.of(p));
            c.seekToBeginning(List.of(p));
            long end = c.endOffsets(List.of(p)).get(p);
            while (c.position(p) < end) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofSeconds(1))) {
                    if (model.equals(r.key())) bytes += r.serializedValueSize() + r.serializedKeySize();
                }
            }
        }
        return bytes;
    }
}
