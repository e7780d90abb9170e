package millrace.sft;

import millrace.model.CheckpointFormat;
import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import millrace.kafka.TestKafka;
import millrace.metrics.Metrics;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.protocol.JsonSerde;
import millrace.protocol.SftExample;
import millrace.protocol.Topics;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Vocabularies;
import millrace.train.AuditSegments;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code millrace sft} as users run it: a real process killed with SIGKILL mid-run and started again trains every
 * example of every epoch exactly once; examples streamed through {@code millrace.sft} are each trained once across a
 * restart, the malformed counted and skipped.
 */
class SftRunIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(2);

    @TempDir
    Path dir;

    /** A fresh tiny r50k model as the pretrained base. */
    private Path base() throws Exception {
        ByteLevelBpe tokenizer = Vocabularies.builtin("r50k");
        Gpt2Config config = new Gpt2Config(1, 2, 32, 32, tokenizer.vocabSize(), 0f);
        TrainSettings demo = TrainSettings.tinyDemo(tokenizer.id(), tokenizer.vocabSize(), 32);
        TrainSettings settings = new TrainSettings("base", config, tokenizer.id(), 4, demo.schedule(), demo.clipNorm(), demo.adam(),
                3, 60, 2, 0);
        try (NDManager root = ModelTrainer.newRootManager();
                ModelTrainer trainer = new ModelTrainer(settings, root, LanguageModel.initialize(config, root), 0, 0)) {
            return new CheckpointStore(dir.resolve("pretrained/checkpoints"), "base", 2).write(trainer,
                    new CheckpointFormat.Meta("base", config, tokenizer.id(), 0, 0, 10f, null, 1L, null, 3L), tokenizer);
        }
    }

    private static String example(int i) {
        return JsonSerde.MAPPER.createObjectNode().put("prompt", "What is " + i + " plus one?")
                .put("response", "It is " + (i + 1) + ".").toString();
    }

    private Process sft(Path log, String... more) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx1g", "-Dai.djl.offline=true", "-cp",
                System.getProperty("java.class.path"), "millrace.cli.Main", "sft", "--data-dir", dir.resolve("data").toString(),
                "--model-name", "chat", "--epochs", "2", "--batch-size", "2", "--checkpoint-every", "1", "--ops-port", "0"));
        cmd.addAll(List.of(more));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** The audit's lines: {@code epoch<TAB>example id<TAB>source} (and {@code <TAB>dropped} for a skipped step). */
    private List<String> audit() throws Exception {
        List<String> lines = new ArrayList<>();
        for (Path segment : new AuditSegments(dir.resolve("data/checkpoints/chat/audit"), "step").segments()) {
            lines.addAll(Files.readAllLines(segment, StandardCharsets.UTF_8));
        }
        return lines;
    }

    @Test
    void killDashNineMidRunThenRestartTrainsEveryExampleOncePerEpoch() throws Exception {
        Path base = base();
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 500; i++) lines.add(example(i));
        lines.add(250, "{\"prompt\": \"broken\""); // line 251
        Path data = dir.resolve("examples.jsonl");
        Files.write(data, lines, StandardCharsets.UTF_8);

        Process first = sft(dir.resolve("first.log"), "--base", base.toString(), "--data", data.toString());
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (audit().isEmpty()) {
            assertTrue(first.isAlive(), () -> "sft died: " + read(dir.resolve("first.log")));
            assertTrue(System.nanoTime() < deadline, "no checkpoint within 120 s");
            Thread.sleep(100);
        }
        // Prometheus can scrape the run: the bad line is counted
        java.util.regex.Matcher port = java.util.regex.Pattern.compile("metrics on (http://\\S+)").matcher(read(dir.resolve("first.log")));
        assertTrue(port.find(), read(dir.resolve("first.log")));
        // HTTP/1.1, as Prometheus scrapes; once, under a loaded CI-sized machine, the JDK client's default h2c upgrade
        // met a closed connection ("EOF reached while reading"): a scraper retries, so does this
        java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build();
        String metrics = null;
        for (int attempt = 1; metrics == null; attempt++) {
            try {
                metrics = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(port.group(1))).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            } catch (java.io.IOException e) {
                if (attempt == 3) throw e;
                assertTrue(first.isAlive(), () -> "sft died: " + read(dir.resolve("first.log")));
                Thread.sleep(500);
            }
        }
        assertTrue(metrics.contains("millrace_sft_examples_total{outcome=\"malformed\"} 1.0"), metrics);
        assertTrue(metrics.contains("millrace_sft_steps_total "), metrics);
        Thread.sleep(600);
        first.destroyForcibly().waitFor(); // SIGKILL: no last checkpoint
        int beforeKill = audit().size();
        assertTrue(beforeKill < 1000, "killed before the end: " + beforeKill);
        String firstLog = read(dir.resolve("first.log"));
        assertTrue(firstLog.contains("examples.jsonl:251: skipped: line: malformed JSON"), firstLog);
        assertTrue(firstLog.contains("500 examples, 1 bad lines skipped, 500 examples fit the context"), firstLog);

        // started again without --base: the run resumes from its newest checkpoint
        Process second = sft(dir.resolve("second.log"), "--data", data.toString());
        assertTrue(second.waitFor(180, java.util.concurrent.TimeUnit.SECONDS), "second run finishes");
        String secondLog = read(dir.resolve("second.log"));
        assertEquals(0, second.exitValue(), secondLog);
        assertTrue(secondLog.contains("resuming chat from"), secondLog);

        // each line: epoch, example id, where it came from (file:line)
        Map<String, Integer> perEpoch = new HashMap<>();
        java.util.Set<String> sources = new java.util.HashSet<>();
        for (String line : audit()) {
            String[] f = line.split("\t");
            perEpoch.merge(f[0] + "\t" + f[1], 1, Integer::sum);
            sources.add(f[0] + "\t" + f[2]);
            assertEquals(3, f.length, "no dropped step: " + line);
        }
        assertEquals(1000, sources.size(), "every line of the file once per epoch");
        assertTrue(sources.contains("1\texamples.jsonl:252"), "the line after the bad one");
        List<String> expected = new ArrayList<>();
        for (int epoch = 0; epoch < 2; epoch++) {
            for (int i = 0; i < 500; i++) expected.add(epoch + "\t" + SftData.parse(example(i), "x").id());
        }
        assertEquals(1000, audit().size(), "every example once per epoch, none twice");
        assertEquals(new java.util.TreeSet<>(expected), new java.util.TreeSet<>(perEpoch.keySet()));
        Path last = new CheckpointStore(dir.resolve("data/checkpoints"), "chat", 3).latest().orElseThrow();
        assertEquals(500, CheckpointFormat.readMeta(last).step(), "two epochs of 250 steps");
        assertEquals("2", CheckpointFormat.readMeta(last).positions().get("sft.epoch"));
    }

    @Test
    void examplesFromTheTopicAreEachTrainedOnceAcrossARestart() throws Exception {
        Path base = base();
        List<String> produced = new ArrayList<>();
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.settings("t").producer("test"))) {
            for (int i = 0; i < 21; i++) {
                SftExample e = SftData.parse(example(i), "topic");
                p.send(new ProducerRecord<>(Topics.SFT, i % 2, e.id(), JsonSerde.sftExamples().toBytes(e)));
                produced.add("topic\t" + e.id());
                if (i == 10) p.send(new ProducerRecord<>(Topics.SFT, 1, "bad", "{\"id\": 3}".getBytes(StandardCharsets.UTF_8)));
            }
        }
        double malformed = Metrics.SFT_EXAMPLES.labelValues("malformed").get();
        List<String> log = new ArrayList<>();
        for (long maxSteps : new long[] {4, 10}) { // the second run resumes where the first stopped
            SftSettings settings = new SftSettings("chat", base, null, 1, 2, 1e-3f, 1e-4f, 0, maxSteps, 7, 600, 2, true, "cpu");
            try (SftRun run = new SftRun(settings, dir.resolve("data"), log::add)) {
                run.trainTopic(kafka.settings("sft"));
            }
            assertEquals(2 * maxSteps, audit().size(), log.toString());
        }
        assertEquals(1, Metrics.SFT_EXAMPLES.labelValues("malformed").get() - malformed, 0);
        List<String> trained = audit().stream().map(line -> line.substring(0, line.lastIndexOf('\t'))).toList(); // less the source
        assertEquals(trained.size(), new java.util.HashSet<>(trained).size(), "none twice: " + trained);
        assertTrue(produced.containsAll(trained), trained.toString());
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return "(no log)";
        }
    }
}
