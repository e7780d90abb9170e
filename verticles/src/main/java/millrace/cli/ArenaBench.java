package millrace.cli;

import millrace.model.CheckpointFormat;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import millrace.Platform;
import millrace.PlatformConfig;
import millrace.Role;
import millrace.dedup.DedupSettings;
import millrace.ingest.IngestSettings;
import millrace.kafka.EmbeddedKafka;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.kafka.TopicSetup;
import millrace.protocol.Checkpoint;
import millrace.protocol.JsonSerde;
import millrace.protocol.Topics;
import millrace.raters.RaterAdmin;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.TokenizeSettings;
import millrace.tokenizer.Vocabularies;
import millrace.train.TrainSettings;
import millrace.feedback.FeedbackSettings;
import millrace.web.WebSettings;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * K simulated raters against a running web role on a real broker: each asks for a streamed comparison, rates it, and
 * asks again. Comparisons per second, time to first token and to both answers, ratings accepted per second — and an
 * audit that every rating answered 202 is on {@code millrace.ratings} exactly once.
 */
@Command(name = "arena", mixinStandardHelpOptions = true,
        description = "Comparisons/s, p50/p95 time to first token and to both answers, and ratings/s accepted, with K "
                + "simulated raters against a web role on an embedded broker; every 202 audited on the topic.")
final class ArenaBench implements Callable<Integer> {
    @Option(names = "--raters", defaultValue = "4", description = "Simulated raters, each with its own token (default: ${DEFAULT-VALUE}).")
    int raters;

    @Option(names = "--seconds", defaultValue = "60", description = "How long they rate (default: ${DEFAULT-VALUE}).")
    int seconds;

    @Option(names = "--model", defaultValue = "small", description = "Preset served when no --checkpoint is given: tiny or small, fresh weights (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--checkpoint", description = "Serve this checkpoint instead (a trained model's answers stop at the end of text more often).")
    Path checkpoint;

    @Option(names = "--max-tokens", defaultValue = "32", description = "New tokens per answer (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    /** What one simulated rater saw. */
    private record Tally(List<Double> firstToken, List<Double> both, List<String> accepted, long[] refused) {}

    @Override
    public Integer call() throws Exception {
        if (raters < 1 || seconds < 1 || maxTokens < 1) throw new IllegalArgumentException("--raters, --seconds and --max-tokens must be >= 1");
        Path dir = Files.createTempDirectory("millrace-bench-arena-");
        EmbeddedKafka broker = new EmbeddedKafka(dir.resolve("kafka"), 0).start();
        Platform platform = null;
        try {
            KafkaSettings kafka = new KafkaSettings(broker.bootstrapServers(), "bench-arena");
            TopicSetup.ensureTopics(kafka, PlatformOptions.DEFAULT_PARTITIONS, TopicSetup.AUTO_REPLICATION);
            Path served = checkpoint != null ? CheckpointFormat.requireCheckpoint(checkpoint) : BenchSupport.freshCheckpoint(dir.resolve("checkpoints"), model);
            announce(kafka, served);
            // the simulated raters are not to be throttled: the bench measures capacity, not the limits
            WebSettings web = new WebSettings("bench", 64, 120_000, 8, 1000, 1000, 1000, 1000, 100_000, 3_600_000);
            ByteLevelBpe r50k = Vocabularies.builtin("r50k");
            PlatformConfig config = new PlatformConfig(kafka, dir, IngestSettings.of(List.of()), PlatformOptions.DEFAULT_PARTITIONS,
                    0, 0, DedupSettings.DEFAULT, new TokenizeSettings("r50k", 64, 16, 0.01, 2000),
                    TrainSettings.tinyDemo("r50k", r50k.vocabSize(), 64), web, FeedbackSettings.defaults("bench"));
            platform = Platform.start(EnumSet.of(Role.WEB), config);
            String base = "http://127.0.0.1:" + platform.httpPort();
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            List<String> tokens = new ArrayList<>();
            try (RaterAdmin admin = new RaterAdmin(kafka)) {
                for (int i = 0; i < raters; i++) tokens.add(admin.add("bench-" + i));
            }
            for (String token : tokens) BenchSupport.await(() -> get(http, base + "/api/me", token) == 200, "the raters");
            BenchSupport.await(() -> warm(http, base, tokens.get(0)), "the first answer");

            log("%d raters for %d s against %s (%s), %d new tokens per answer, %d cores", raters, seconds, base,
                    checkpoint != null ? checkpoint : "fresh " + model, maxTokens, Runtime.getRuntime().availableProcessors());
            long deadline = System.nanoTime() + seconds * 1_000_000_000L;
            double peakRss = 0;
            ExecutorService pool = Executors.newFixedThreadPool(raters);
            List<Future<Tally>> running = new ArrayList<>();
            long started = System.nanoTime();
            for (int i = 0; i < raters; i++) {
                String token = tokens.get(i);
                long seed = i;
                running.add(pool.submit(() -> rate(http, base, token, seed, deadline)));
            }
            while (System.nanoTime() < deadline) {
                peakRss = Math.max(peakRss, BenchSupport.rssMb());
                Thread.sleep(500);
            }
            List<Tally> tallies = new ArrayList<>();
            for (Future<Tally> f : running) tallies.add(f.get());
            pool.shutdown();
            double elapsed = (System.nanoTime() - started) / 1e9;

            List<Double> first = new ArrayList<>();
            List<Double> both = new ArrayList<>();
            List<String> accepted = new ArrayList<>();
            long busy = 0;
            long limited = 0;
            for (Tally t : tallies) {
                first.addAll(t.firstToken());
                both.addAll(t.both());
                accepted.addAll(t.accepted());
                busy += t.refused()[0];
                limited += t.refused()[1];
            }
            // the audit: every rating answered 202 is on the topic, once
            Map<String, Integer> onTopic = new HashMap<>();
            TopicReader.readAll(kafka, Topics.RATINGS, r -> onTopic.merge(JsonSerde.ratings().fromBytes(r.value()).id(), 1, Integer::sum));
            long lost = accepted.stream().filter(id -> !onTopic.containsKey(id)).count();
            long duplicated = onTopic.values().stream().filter(n -> n > 1).count();

            ObjectNode o = JsonSerde.MAPPER.createObjectNode();
            o.put("raters", raters).put("seconds", Math.round(elapsed * 10) / 10.0).put("cores", Runtime.getRuntime().availableProcessors())
                    .put("model", checkpoint != null ? checkpoint.toString() : model).put("max_tokens", maxTokens);
            o.put("comparisons", both.size()).put("comparisons_per_s", both.size() / elapsed);
            o.putObject("first_token_ms").put("p50", BenchSupport.percentile(first, 50) * 1000).put("p95", BenchSupport.percentile(first, 95) * 1000);
            o.putObject("both_answers_ms").put("p50", BenchSupport.percentile(both, 50) * 1000).put("p95", BenchSupport.percentile(both, 95) * 1000);
            o.put("ratings_accepted", accepted.size()).put("ratings_per_s", accepted.size() / elapsed);
            o.put("refused_busy", busy).put("refused_rate_limited", limited);
            o.put("lost", lost).put("duplicated", duplicated).put("peak_rss_mb", Math.round(peakRss));
            if (json) {
                System.out.println(JsonSerde.MAPPER.writeValueAsString(o));
            } else {
                System.out.printf("%d raters, %.0f s: %d comparisons (%.2f/s), time to first token p50 %.0f ms p95 %.0f ms, "
                        + "to both answers p50 %.0f ms p95 %.0f ms; %d ratings accepted (%.2f/s); 503 %d, 429 %d; "
                        + "lost %d, duplicated %d; peak RSS %.0f MB%n", raters, elapsed, both.size(), both.size() / elapsed,
                        BenchSupport.percentile(first, 50) * 1000, BenchSupport.percentile(first, 95) * 1000, BenchSupport.percentile(both, 50) * 1000, BenchSupport.percentile(both, 95) * 1000,
                        accepted.size(), accepted.size() / elapsed, busy, limited, lost, duplicated, peakRss);
            }
            return lost == 0 && duplicated == 0 ? 0 : 1;
        } finally {
            if (platform != null) platform.close();
            broker.close();
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }

    /** One rater: a streamed comparison, a rating of it (a random choice), again, until the deadline. */
    private Tally rate(HttpClient http, String base, String token, long seed, long deadline) throws Exception {
        Random random = new Random(seed);
        Tally t = new Tally(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new long[2]);
        String[] choices = {"A", "B", "TIE", "BOTH_BAD"};
        int n = 0;
        while (System.nanoTime() < deadline) {
            long sent = System.nanoTime();
            HttpResponse<Stream<String>> r = http.send(json(base + "/api/compare", token,
                    "{\"prompt\":\"And God said\",\"maxTokens\":" + maxTokens + ",\"temperature\":1,\"stream\":true,\"seed\":"
                            + random.nextInt(1_000_000) + "}"), HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) {
                refused(t, r.statusCode(), r.headers().firstValue("retry-after").orElse("1"));
                r.body().close();
                continue;
            }
            String comparison = null;
            double first = -1;
            String event = null;
            for (String line : (Iterable<String>) r.body()::iterator) {
                if (line.startsWith("event: ")) {
                    event = line.substring(7);
                } else if (line.startsWith("data: ")) {
                    if (event.equals("token") && first < 0) first = (System.nanoTime() - sent) / 1e9;
                    if (event.equals("done")) comparison = JsonSerde.MAPPER.readTree(line.substring(6)).get("comparisonId").asText();
                }
            }
            if (comparison == null) continue;
            t.both().add((System.nanoTime() - sent) / 1e9);
            if (first >= 0) t.firstToken().add(first);
            String body = "{\"comparisonId\":\"" + comparison + "\",\"choice\":\"" + choices[random.nextInt(4)]
                    + "\",\"idempotencyKey\":\"" + token.substring(3, 12) + "-" + n++ + "\"}";
            for (int attempt = 0; attempt < 5; attempt++) {
                HttpResponse<String> rated = http.send(json(base + "/api/ratings", token, body), HttpResponse.BodyHandlers.ofString());
                if (rated.statusCode() == 202) {
                    JsonNode ack = JsonSerde.MAPPER.readTree(rated.body());
                    if (!ack.get("duplicate").asBoolean()) t.accepted().add(ack.get("id").asText());
                    break;
                }
                refused(t, rated.statusCode(), rated.headers().firstValue("retry-after").orElse("1"));
            }
        }
        return t;
    }

    private static void refused(Tally t, int status, String retryAfter) throws InterruptedException {
        if (status == 503) t.refused()[0]++;
        else if (status == 429) t.refused()[1]++;
        else throw new IllegalStateException("unexpected HTTP " + status);
        Thread.sleep(Long.parseLong(retryAfter) * 1000);
    }

    private static HttpRequest json(String url, String token, String body) {
        return HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(2)).header("content-type", "application/json")
                .header("authorization", "Bearer " + token).POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static int get(HttpClient http, String url, String token) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).header("authorization", "Bearer " + token).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    /** One comparison first, so that the timed ones find the model loaded and the JIT warm. */
    private static boolean warm(HttpClient http, String base, String token) throws Exception {
        return http.send(json(base + "/api/compare", token, "{\"prompt\":\"warm up\",\"maxTokens\":4}"),
                HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
    }

    private static void announce(KafkaSettings kafka, Path checkpoint) throws Exception {
        CheckpointFormat.Meta meta = CheckpointFormat.readMeta(checkpoint);
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.producer("bench"))) {
            Checkpoint c = new Checkpoint("bench", meta.step(), meta.tokensSeen(), Map.of(), checkpoint.toAbsolutePath().toString(),
                    meta.trainLoss(), null, meta.tokenizerId(), System.currentTimeMillis());
            p.send(new ProducerRecord<>(Topics.CHECKPOINTS, "bench", JsonSerde.checkpoints().toBytes(c))).get();
        }
    }

    private static void log(String format, Object... args) {
        System.err.printf(format + "%n", args);
    }
}
