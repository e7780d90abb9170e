package millrace;

import static org.junit.jupiter.api.Assertions.*;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import com.fasterxml.jackson.databind.JsonNode;
import millrace.kafka.TestKafka;
import millrace.metrics.Metrics;
import millrace.model.Gpt2Config;
import millrace.protocol.Checkpoint;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import millrace.tokenizer.TokenizeSettings;
import millrace.train.TrainSettings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole loop in one JVM on a real broker: files → documents → clean → shards → training → web, the page checked
 * in headless Chromium.
 */
class PipelineE2ETest {
    private static final Duration WAIT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @Test
    void aCorpusFlowsFromFilesToATrainingModelAndTheWebPage() throws Exception {
        Path corpus = Files.createDirectories(dir.resolve("corpus"));
        List<String> books = List.of("08-Ruth.txt", "32-Jonah.txt", "57-Philemon.txt", "65-Jude.txt", "31-Obadiah.txt",
                "36-Zephaniah.txt", "37-Haggai.txt", "34-Nahum.txt");
        for (String b : books) Files.copy(Path.of("../corpus/kjv", b), corpus.resolve(b));
        // two exact duplicates (the second only differs in case and spacing), and two files that are not text
        Files.copy(Path.of("../corpus/kjv/65-Jude.txt"), corpus.resolve("jude-copy.txt"));
        Files.writeString(corpus.resolve("jonah-shouted.md"),
                Files.readString(Path.of("../corpus/kjv/32-Jonah.txt")).toUpperCase().replace(" ", "  "));
        Files.write(corpus.resolve("image.txt"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, 0, 0, 13});
        Files.writeString(corpus.resolve("blank.txt"), "\n\n");

        try (TestKafka kafka = TestKafka.start(dir.resolve("kafka"), 2)) {
            TrainSettings demo = TrainSettings.tinyDemo("r50k_base", 50257, 32);
            TrainSettings train = new TrainSettings("millrace", Gpt2Config.tiny(50257, 32), "r50k_base", 8,
                    demo.schedule(), demo.clipNorm(), demo.adam(), demo.seed(), 2, 3, 0);
            PlatformConfig config = new PlatformConfig(kafka.settings("e2e"), dir.resolve("data"), millrace.ingest.IngestSettings.of(List.of(corpus.toString())), 2, 0, 0,
                    millrace.dedup.DedupSettings.DEFAULT,
                    new TokenizeSettings("r50k_base", 32, 8, 0.1, 500), train, millrace.web.WebSettings.defaults("millrace"),
                    millrace.feedback.FeedbackSettings.defaults("millrace"));
            // counters are per JVM and other tests share it: compare against where they stood before
            double binaryBefore = Metrics.INGEST_REJECTED.labelValues("binary").get();
            double duplicatesBefore = Metrics.DEDUP_DOCUMENTS.labelValues("duplicate").get();
            Platform platform = Platform.start(java.util.EnumSet.allOf(Role.class), config);
            try {
                // every readable document reached millrace.docs; the unreadable ones were reported with path and reason
                List<Document> docs = kafka.await(Topics.DOCS, JsonSerde.documents()::fromBytes,
                        l -> l.size() >= 10, WAIT);
                assertEquals(10, docs.size());
                List<Rejection> rejected = kafka.await(Topics.DOCS_REJECTED, JsonSerde.rejections()::fromBytes,
                        l -> l.size() >= 4, WAIT);
                Map<String, Rejection> byFile = rejected.stream().collect(
                        Collectors.toMap(r -> Path.of(r.source()).getFileName().toString(), r -> r));
                assertEquals(RejectReason.BINARY, byFile.get("image.txt").reason());
                assertEquals(RejectReason.EMPTY, byFile.get("blank.txt").reason());
                // of each pair of copies, the one dedup saw first is kept (the pairs may sit in different partitions)
                assertDuplicatePair(byFile, "65-Jude.txt", "jude-copy.txt");
                assertDuplicatePair(byFile, "32-Jonah.txt", "jonah-shouted.md");
                assertEquals(8, kafka.await(Topics.DOCS_CLEAN, b -> b, l -> l.size() >= 8, WAIT).size());

                // shards were produced, every one of them exact
                List<TokenShard> shards = kafka.await(Topics.SHARDS, TokenShardCodec::decode, l -> l.size() >= 20, WAIT);
                String r50k = millrace.tokenizer.Vocabularies.builtin("r50k").id();
                assertTrue(shards.stream().allMatch(s -> s.seqLen() == 32 && s.tokenizerId().equals(r50k)));

                // at least 20 steps consumed them, and the loss fell from ln(50257) ≈ 10.82 at initialisation
                List<Checkpoint> checkpoints = kafka.await(Topics.CHECKPOINTS, JsonSerde.checkpoints()::fromBytes,
                        l -> l.stream().anyMatch(c -> c.step() >= 20 && c.trainLoss() < 10.3), WAIT);
                Checkpoint first = checkpoints.get(0);
                Checkpoint last = checkpoints.get(checkpoints.size() - 1);
                assertTrue(last.step() >= 20 && last.trainLoss() < Math.log(50257) - 0.5
                        && (checkpoints.size() == 1 || last.trainLoss() < first.trainLoss()),
                        "loss " + first.trainLoss() + " at step " + first.step() + " → " + last.trainLoss() + " at " + last.step());
                assertTrue(Files.isRegularFile(Path.of(last.location(), "model.safetensors")));

                // the web role shows the same, and generates from the latest weights
                HttpClient http = HttpClient.newHttpClient();
                String base = "http://127.0.0.1:" + platform.httpPort();
                // and serves it: a checkpoint is loaded in the background, so the one served can trail the newest
                JsonNode status = awaitStatus(http, base, s -> s.path("checkpoint").path("millrace").path("step").asLong() >= 20
                        && servedStep(s) >= 20 && s.path("documentsKept").asLong() == 8);
                assertEquals(10, status.get("documentsIn").asLong());
                assertEquals(2, status.path("rejected").path("exact_duplicate").asLong());
                assertTrue(status.path("shards").path("train").asLong() > 0);

                HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, metrics.statusCode());
                assertTrue(metrics.body().contains("millrace_train_steps_total"), metrics.body());
                assertTrue(metrics.body().contains("millrace_ingest_rejected_total{reason=\"binary\"}"));
                assertTrue(metrics.body().contains("millrace_dedup_documents_total{verdict=\"duplicate\"}"));
                assertEquals(1, Metrics.INGEST_REJECTED.labelValues("binary").get() - binaryBefore);
                assertEquals(2, Metrics.DEDUP_DOCUMENTS.labelValues("duplicate").get() - duplicatesBefore);
                assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base + "/health")).build(),
                        HttpResponse.BodyHandlers.ofString()).statusCode());
                // every process also serves its metrics and probes on the operations port
                String ops = "http://127.0.0.1:" + platform.opsPort();
                assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(ops + "/ready")).build(),
                        HttpResponse.BodyHandlers.ofString()).statusCode());
                assertTrue(http.send(HttpRequest.newBuilder(URI.create(ops + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString()).body().contains("millrace_kafka_consumer_lag_records"));
                assertTrue(http.send(HttpRequest.newBuilder(URI.create(base + "/")).build(),
                        HttpResponse.BodyHandlers.ofString()).body().contains("<title>Millrace</title>"));

                HttpResponse<String> generated = post(http, base + "/api/generate",
                        "{\"prompt\":\"And Ruth said\",\"maxTokens\":12,\"temperature\":0.7,\"seed\":3}");
                assertEquals(200, generated.statusCode(), generated.body());
                JsonNode answer = JsonSerde.MAPPER.readTree(generated.body());
                assertTrue(answer.get("newTokens").asInt() >= 1);
                assertTrue(answer.get("checkpointStep").asLong() >= 20);
                // streamed: token events as the text is generated, then the whole answer, which they add up to
                HttpResponse<String> streamed = post(http, base + "/api/generate",
                        "{\"prompt\":\"And Ruth said\",\"maxTokens\":12,\"temperature\":0.7,\"topP\":0.9,\"seed\":3,\"stream\":true}");
                assertEquals(200, streamed.statusCode(), streamed.body());
                assertTrue(streamed.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
                StringBuilder pieces = new StringBuilder();
                JsonNode done = null;
                for (String event : streamed.body().split("\n\n")) {
                    String[] lines = event.split("\n");
                    JsonNode data = JsonSerde.MAPPER.readTree(lines[1].substring("data: ".length()));
                    if (lines[0].equals("event: token")) pieces.append(data.get("text").asText());
                    else if (lines[0].equals("event: done")) done = data;
                }
                assertNotNull(done, streamed.body());
                assertTrue(done.get("newTokens").asInt() >= 1);
                assertEquals(done.get("text").asText().replace("<|endoftext|>", ""), pieces.toString());
                assertEquals(400, post(http, base + "/api/generate", "{\"prompt\":\"x\",\"topP\":0}").statusCode());
                assertEquals(400, post(http, base + "/api/generate", "{\"prompt\": 12}").statusCode());
                assertEquals(400, post(http, base + "/api/generate", "not json").statusCode());

                // and in a real browser: the dashboard fills in, and a generation streams into the page
                if (millrace.web.PageInChromium.available()) {
                    millrace.web.PageInChromium.dashboardAndStreamingGeneration(base, 10, "And Ruth said");
                }
            } finally {
                platform.close();
            }
        }
    }

    private static void assertDuplicatePair(Map<String, Rejection> byFile, String a, String b) {
        Rejection r = byFile.containsKey(a) ? byFile.get(a) : byFile.get(b);
        assertNotNull(r, "neither " + a + " nor " + b + " was rejected");
        assertFalse(byFile.containsKey(a) && byFile.containsKey(b), "both copies rejected");
        assertEquals(RejectReason.EXACT_DUPLICATE, r.reason());
        String kept = byFile.containsKey(a) ? b : a;
        assertEquals(kept, Path.of(r.duplicateOf()).getFileName().toString());
    }

    private static HttpResponse<String> post(HttpClient http, String url, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The step of the checkpoint the web role serves, from its path ({@code .../step-000000031}); -1 for none yet. */
    private static long servedStep(JsonNode status) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("step-(\\d+)$")
                .matcher(status.path("serving").path("checkpoint").asText(""));
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    private static JsonNode awaitStatus(HttpClient http, String base, java.util.function.Predicate<JsonNode> ok)
            throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/api/status")).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 200) {
                last = JsonSerde.MAPPER.readTree(r.body());
                if (ok.test(last)) return last;
            }
            Thread.sleep(500);
        }
        throw new AssertionError("status never got there: " + last);
    }
}
