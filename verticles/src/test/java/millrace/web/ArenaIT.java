package millrace.web;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import millrace.metrics.Metrics;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rating;
import millrace.protocol.Topics;
import millrace.raters.RaterAdmin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The arena's API against a web role on a real broker: who may rate, comparisons, ratings made durable before they are
 * acknowledged, idempotency, every refusal with its status, the export, the bounded generation queue; the page in
 * Chromium; and a revocation reaching a second web process within a second.
 */
class ArenaIT {
    @TempDir
    static Path dir;

    static WebFixture web;

    @BeforeAll
    static void start() throws Exception {
        // a short queue, so that the test can fill it
        WebSettings settings = new WebSettings("millrace", 2, 30_000, 8, 2, 30, 1, 10, 2000, 3_600_000);
        web = new WebFixture(dir, settings);
    }

    @AfterAll
    static void stop() {
        if (web != null) web.close();
    }

    private static JsonNode json(HttpResponse<String> r) throws Exception {
        return JsonSerde.MAPPER.readTree(r.body());
    }

    private static JsonNode compare(String token, String prompt) throws Exception {
        HttpResponse<String> r = web.postJson("/api/compare", token,
                "{\"prompt\":" + JsonSerde.MAPPER.writeValueAsString(prompt) + ",\"maxTokens\":12,\"seed\":7}");
        assertEquals(200, r.statusCode(), r.body());
        return json(r);
    }

    private static HttpResponse<String> rate(String token, String body) throws Exception {
        return web.postJson("/api/ratings", token, body);
    }

    private static List<Rating> ratingsOnTopic() {
        return web.kafka.read(Topics.RATINGS, JsonSerde.ratings()::fromBytes);
    }

    @Test
    void onlyAValidTokenMayCompareOrRate() throws Exception {
        String token = web.rater("ann");
        assertEquals(401, web.postJson("/api/compare", null, "{\"prompt\":\"x\"}").statusCode());
        HttpResponse<String> wrong = web.postJson("/api/compare", token + "x", "{\"prompt\":\"x\"}");
        assertEquals(401, wrong.statusCode());
        assertTrue(wrong.headers().firstValue("www-authenticate").orElse("").startsWith("Bearer"));
        assertEquals(401, rate("mr_forged", "{\"comparisonId\":\"c\",\"choice\":\"A\"}").statusCode());
        assertEquals(401, web.get("/api/me", null).statusCode());
        assertEquals(401, web.get("/api/ratings/export", "nope").statusCode());
        JsonNode me = json(web.get("/api/me", token));
        assertEquals("ann", me.get("name").asText());
    }

    @Test
    void aComparisonIsTwoAnswersFromTheServingPolicyAndARatingOfItIsOnTheTopicWhenAccepted() throws Exception {
        String token = web.rater("bea");
        JsonNode c = compare(token, "And God said");
        assertEquals("And God said", c.get("prompt").asText());
        assertEquals(2, c.get("answers").size());
        for (JsonNode a : c.get("answers")) assertEquals(0, a.get("policyVersion").asLong(), "the pretraining checkpoint: v0");
        assertNotEquals(c.get("answers").get(0).get("text").asText(), c.get("answers").get(1).get("text").asText(),
                "two samples with different seeds");
        String id = c.get("comparisonId").asText();

        double accepted = Metrics.WEB_RATINGS.labelValues("choice", "accepted").get();
        HttpResponse<String> r = rate(token, "{\"comparisonId\":\"" + id + "\",\"choice\":\"B\",\"idempotencyKey\":\"bea-1\"}");
        assertEquals(202, r.statusCode(), r.body());
        JsonNode receipt = json(r);
        String ratingId = receipt.get("id").asText();
        // 202 means on the topic, where the receipt says: read it straight away
        var record = web.kafka.records(Topics.RATINGS).stream().filter(x -> x.partition() == receipt.get("partition").asInt()
                && x.offset() == receipt.get("offset").asLong()).findFirst().orElseThrow();
        Rating onTopic = JsonSerde.ratings().fromBytes(record.value());
        assertEquals(ratingId, onTopic.id());
        assertEquals("bea", onTopic.rater());
        assertEquals(Rating.Choice.B, onTopic.choice());
        assertEquals("And God said", onTopic.prompt());
        assertEquals(List.of(c.get("answers").get(0).get("text").asText(), c.get("answers").get(1).get("text").asText()),
                onTopic.responses());
        assertEquals(web.checkpoint.toAbsolutePath().toString(), onTopic.checkpoint());
        assertEquals(1, Metrics.WEB_RATINGS.labelValues("choice", "accepted").get() - accepted);

        // the same idempotency key again: the same id, nothing new on the topic
        HttpResponse<String> again = rate(token, "{\"comparisonId\":\"" + id + "\",\"choice\":\"B\",\"idempotencyKey\":\"bea-1\"}");
        assertEquals(202, again.statusCode());
        assertEquals(ratingId, json(again).get("id").asText());
        assertTrue(json(again).get("duplicate").asBoolean());
        assertEquals(1, ratingsOnTopic().stream().filter(x -> x.id().equals(ratingId)).count());
        // a second choice of the same comparison is refused: one choice per comparison and rater
        HttpResponse<String> second = rate(token, "{\"comparisonId\":\"" + id + "\",\"choice\":\"A\"}");
        assertEquals(409, second.statusCode(), second.body());

        // a score and an edit of the same comparison
        assertEquals(202, rate(token, "{\"comparisonId\":\"" + id + "\",\"score\":-1,\"scale\":\"thumbs\",\"answer\":0}").statusCode());
        assertEquals(202, rate(token, "{\"comparisonId\":\"" + id + "\",\"editedAnswer\":\"and it was so.\",\"answer\":1}").statusCode());
        awaitCount(token, 3);
        JsonNode policy = json(web.get("/api/policy", null));
        assertEquals(0, policy.get("serving").get("version").asLong());
        assertEquals(web.checkpoint.toAbsolutePath().toString(), policy.get("serving").get("checkpoint").asText());
    }

    private static void awaitCount(String token, long n) throws Exception {
        long deadline = System.currentTimeMillis() + 10_000;
        while (json(web.get("/api/me", token)).get("ratings").asLong() != n) {
            if (System.currentTimeMillis() > deadline) fail("the rater's count never reached " + n);
            Thread.sleep(100);
        }
    }

    @Test
    void everyBadRatingIsRefusedWithTheFieldAndNothingReachesTheTopic() throws Exception {
        String token = web.rater("cy");
        String other = web.rater("dee");
        String id = compare(token, "The LORD is my shepherd").get("comparisonId").asText();
        String others = compare(other, "The LORD is my shepherd").get("comparisonId").asText();
        int before = ratingsOnTopic().size();
        double invalid = Metrics.WEB_RATINGS.labelValues("choice", "invalid").get();
        String[][] cases = {
            {"{\"choice\":\"A\"}", "comparisonId"},
            {"{\"comparisonId\":\"c-0000\",\"choice\":\"A\"}", "comparisonId"},
            {"{\"comparisonId\":\"" + others + "\",\"choice\":\"A\"}", "comparisonId"}, // another rater's
            {"{\"comparisonId\":\"" + id + "\",\"choice\":\"C\"}", "choice"},
            {"{\"comparisonId\":\"" + id + "\"}", "choice"},
            {"{\"comparisonId\":\"" + id + "\",\"score\":9,\"scale\":\"five\",\"answer\":0}", "score"},
            {"{\"comparisonId\":\"" + id + "\",\"score\":1,\"answer\":0}", "scale"},
            {"{\"comparisonId\":\"" + id + "\",\"score\":1,\"scale\":\"thumbs\",\"answer\":5}", "answer"},
            {"{\"comparisonId\":\"" + id + "\",\"editedAnswer\":\"x\"}", "answer"},
            {"{\"comparisonId\":\"" + id + "\",\"choice\":\"A\",\"rater\":\"mallory\"}", "rater"},
        };
        for (String[] c : cases) {
            HttpResponse<String> r = rate(token, c[0]);
            assertEquals(400, r.statusCode(), c[0] + " → " + r.body());
            assertEquals(c[1], json(r).get("field").asText(), c[0]);
        }
        assertEquals(400, rate(token, "[1,2]").statusCode());
        assertEquals(400, rate(token, "{\"comparisonId\":").statusCode());
        assertEquals(415, web.post("/api/ratings", token, "text/plain", "{\"comparisonId\":\"" + id + "\",\"choice\":\"A\"}").statusCode());
        // a tampered id is an unknown one
        String tampered = id.substring(0, id.length() - 1) + (id.endsWith("0") ? "1" : "0");
        assertEquals(400, rate(token, "{\"comparisonId\":\"" + tampered + "\",\"choice\":\"A\"}").statusCode());
        assertTrue(Metrics.WEB_RATINGS.labelValues("choice", "invalid").get() - invalid >= 4);
        assertEquals(before, ratingsOnTopic().size(), "no bad rating was written");
    }

    @Test
    void bodiesAreBoundedAndNeverWrittenToDisk() throws Exception {
        String token = web.rater("eve");
        HttpResponse<String> huge = rate(token, "{\"comparisonId\":\"" + "x".repeat(70_000) + "\"}");
        assertEquals(413, huge.statusCode());
        assertEquals(413, web.postJson("/api/compare", token, "{\"prompt\":\"" + "x".repeat(20_000) + "\"}").statusCode());
        String boundary = "millrace-boundary";
        String multipart = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
                + "Content-Type: application/octet-stream\r\n\r\n" + "y".repeat(8_000) + "\r\n--" + boundary + "--\r\n";
        for (String path : List.of("/api/generate", "/api/compare", "/api/ratings")) {
            HttpResponse<String> r = web.post(path, token, "multipart/form-data; boundary=" + boundary, multipart);
            assertEquals(415, r.statusCode(), path + " " + r.body());
        }
        assertFalse(Files.exists(Path.of("file-uploads")), "the body parser wrote an upload to disk");
        assertEquals(400, web.postJson("/api/generate", null, "{\"prompt\":\"" + "p".repeat(4001) + "\"}").statusCode());
        // the model served is pretrained, not a chat model: asked for a chat turn it says so
        HttpResponse<String> notChat = web.postJson("/api/generate", null, "{\"prompt\":\"hi\",\"chat\":true}");
        assertEquals(400, notChat.statusCode());
        assertEquals("chat", json(notChat).get("field").asText());
        assertTrue(json(notChat).get("error").asText().contains("./millrace sft"), notChat.body());
        HttpResponse<String> streamed = web.postJson("/api/generate", null, "{\"prompt\":\"hi\",\"chat\":true,\"stream\":true}");
        assertEquals(400, streamed.statusCode(), "refused before any event: " + streamed.body());
        assertEquals("chat", json(streamed).get("field").asText());
        assertEquals(400, web.postJson("/api/generate", null, "{\"prompt\":\"hi\",\"chat\":\"yes\"}").statusCode());
        assertEquals(404, web.postJson("/api/nothing", token, "{}").statusCode());
        HttpResponse<String> typo = web.postJson("/api/compare", token, "{\"prompt\":\"x\",\"max_tokens\":5}");
        assertEquals(400, typo.statusCode());
        assertEquals("max_tokens", json(typo).get("field").asText());
        assertFalse(web.get("/api/nothing", null).body().contains("Exception"));
    }

    @Test
    void aRaterPastTheRateLimitIsToldWhenToComeBack() throws Exception {
        String token = web.rater("fay");
        String id = compare(token, "Blessed are the").get("comparisonId").asText();
        int tooMany = 0;
        String retryAfter = null;
        for (int i = 0; i < 40; i++) {
            // the first takes the comparison's choice, the next are refused as second choices, until the rate says stop
            HttpResponse<String> r = rate(token, "{\"comparisonId\":\"" + id + "\",\"choice\":\"TIE\",\"idempotencyKey\":\"k" + i + "\"}");
            if (r.statusCode() == 429) {
                tooMany++;
                retryAfter = r.headers().firstValue("retry-after").orElse(null);
            } else {
                assertEquals(i == 0 ? 202 : 409, r.statusCode(), r.body());
            }
        }
        assertTrue(tooMany >= 5, tooMany + " refused of 40 at a burst of 30");
        assertNotNull(retryAfter);
        assertTrue(Integer.parseInt(retryAfter) >= 1);
        assertEquals(400, rate(web.rater("gus"), "{\"comparisonId\":\"" + id + "\",\"choice\":\"A\"}").statusCode(),
                "another rater is not limited by fay's ratings (and cannot rate fay's comparison)");
    }

    @Test
    void theExportIsTheRatingsInTrlsShape() throws Exception {
        String token = web.rater("hal");
        JsonNode c = compare(token, "And Jesus answered");
        String id = c.get("comparisonId").asText();
        String chosen = c.get("answers").get(0).get("text").asText();
        String ratingId = json(rate(token, "{\"comparisonId\":\"" + id + "\",\"choice\":\"A\"}")).get("id").asText();
        String other = compare(token, "And Jesus wept").get("comparisonId").asText();
        String bad = json(rate(token, "{\"comparisonId\":\"" + other + "\",\"choice\":\"BOTH_BAD\"}")).get("id").asText();
        HttpResponse<String> paired = web.get("/api/ratings/export", token);
        assertEquals(200, paired.statusCode());
        assertTrue(paired.headers().firstValue("content-type").orElse("").startsWith("application/jsonl"));
        JsonNode row = null;
        for (String line : paired.body().split("\n")) {
            JsonNode n = JsonSerde.MAPPER.readTree(line);
            assertTrue(n.has("prompt") && n.has("chosen") && n.has("rejected"), line);
            if (n.get("rating_id").asText().equals(ratingId)) row = n;
        }
        assertNotNull(row);
        assertEquals("And Jesus answered", row.get("prompt").asText());
        assertEquals(chosen, row.get("chosen").asText());
        List<JsonNode> unpaired = new ArrayList<>();
        for (String line : web.get("/api/ratings/export?shape=unpaired", token).body().split("\n")) {
            JsonNode n = JsonSerde.MAPPER.readTree(line);
            if (n.get("rating_id").asText().equals(bad)) unpaired.add(n);
        }
        assertEquals(2, unpaired.size());
        assertTrue(unpaired.stream().noneMatch(n -> n.get("label").asBoolean()));
        long raw = web.get("/api/ratings/export?shape=raw", token).body().lines().count();
        assertEquals(ratingsOnTopic().stream().map(Rating::id).distinct().count(), raw);
        assertEquals(400, web.get("/api/ratings/export?shape=csv", token).statusCode());
    }

    @Test
    void generationWorkIsBoundedAndAFullQueueSaysWhenToComeBack() throws Exception {
        String token = web.rater("lu");
        double full = Metrics.WEB_GENERATIONS_DROPPED.labelValues("queue_full").get();
        List<CompletableFuture<HttpResponse<String>>> requests = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            requests.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return web.postJson("/api/generate", null, "{\"prompt\":\"In the beginning\",\"maxTokens\":200,\"temperature\":1,\"topK\":0}");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        // requests without a token may hold only a share of the queue: a rater's comparison still gets a place
        Thread.sleep(200);
        HttpResponse<String> raters = web.postJson("/api/compare", token, "{\"prompt\":\"x\",\"maxTokens\":4}");
        assertEquals(200, raters.statusCode(), raters.body());
        List<HttpResponse<String>> answered = requests.stream().map(CompletableFuture::join).toList();
        List<HttpResponse<String>> refused = answered.stream().filter(r -> r.statusCode() == 503).toList();
        assertEquals(8, answered.stream().filter(r -> r.statusCode() == 200 || r.statusCode() == 503).count(),
                answered.stream().map(r -> r.statusCode() + " " + r.body()).collect(Collectors.joining("\n")));
        assertFalse(refused.isEmpty(), "8 at once with one running and two waiting: some must be refused");
        for (HttpResponse<String> r : refused) assertTrue(Integer.parseInt(r.headers().firstValue("retry-after").orElseThrow()) >= 1);
        assertEquals(refused.size(), Metrics.WEB_GENERATIONS_DROPPED.labelValues("queue_full").get() - full, 0.0);
    }

    @Test
    void aStreamedComparisonAddsUpToItsAnswers() throws Exception {
        String token = web.rater("ida");
        HttpResponse<String> r = web.postJson("/api/compare", token, "{\"prompt\":\"<script>alert(1)</script>\",\"maxTokens\":10,\"stream\":true}");
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
        StringBuilder[] pieces = {new StringBuilder(), new StringBuilder()};
        JsonNode start = null;
        JsonNode done = null;
        for (String event : r.body().split("\n\n")) {
            String[] lines = event.split("\n");
            JsonNode data = JsonSerde.MAPPER.readTree(lines[1].substring("data: ".length()));
            switch (lines[0]) {
                case "event: start" -> start = data;
                case "event: token" -> pieces[data.get("answer").asInt()].append(data.get("text").asText());
                case "event: done" -> done = data;
                default -> fail(event);
            }
        }
        assertNotNull(start);
        assertNotNull(done);
        assertEquals(start.get("comparisonId").asText(), done.get("comparisonId").asText());
        for (int i = 0; i < 2; i++) assertEquals(done.get("answers").get(i).get("text").asText(), pieces[i].toString());
        assertEquals(202, rate(token, "{\"comparisonId\":\"" + done.get("comparisonId").asText() + "\",\"choice\":\"A\"}").statusCode());
    }

    @Test
    void aRevocationReachesASecondWebProcessWithinASecond() throws Exception {
        String token = web.rater("jo");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        Process second = new ProcessBuilder(java, "-Xmx512m", "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                "millrace.cli.Main", "run", "--roles", "web", "--kafka", web.kafka.settings("x").bootstrapServers(),
                "--http-port", Integer.toString(port), "--ops-port", "0", "--instance-id", "web-2",
                "--data-dir", dir.resolve("web-2").toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("web-2.log").toFile()).start();
        try {
            WebFixture.Remote other = new WebFixture.Remote(web.http, "http://127.0.0.1:" + port);
            long deadline = System.currentTimeMillis() + 60_000;
            while (other.status("/api/me", token) != 200) {
                assertTrue(second.isAlive(), () -> read(dir.resolve("web-2.log")));
                if (System.currentTimeMillis() > deadline) fail("the second web process never knew jo: " + read(dir.resolve("web-2.log")));
                Thread.sleep(200);
            }
            try (RaterAdmin admin = new RaterAdmin(web.kafka.settings("admin"))) {
                admin.revoke("jo");
            }
            long revoked = System.nanoTime();
            while (other.status("/api/me", token) != 401 || web.get("/api/me", token).statusCode() != 401) Thread.sleep(20);
            double seconds = (System.nanoTime() - revoked) / 1e9;
            assertTrue(seconds < 1.0, "revocation took " + seconds + " s to reach both web processes");
            System.out.printf("revocation reached both web processes in %.0f ms%n", seconds * 1000);
        } finally {
            second.destroy();
            second.waitFor();
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return e.toString();
        }
    }

    @Test
    void thePageInChromium() throws Exception {
        if (!PageInChromium.available()) return;
        String token = web.rater("kim");
        List<String> made = PageInChromium.arena(web.base, token);
        // in the order they were accepted (the topic's partitions interleave them)
        List<Rating> mine = ratingsOnTopic().stream().filter(r -> r.rater().equals("kim"))
                .sorted(java.util.Comparator.comparingLong(Rating::createdAtMillis)).toList();
        assertEquals(made, mine.stream().map(r -> r.kind() == Rating.Kind.CHOICE ? "choice:" + r.choice()
                : r.kind() == Rating.Kind.EDIT ? "edit:" + r.answer() + ":" + r.editedAnswer()
                : "score:" + r.answer() + ":" + r.score() + ":" + r.scale()).toList(),
                "exactly the ratings made on the page, and not the one undone");
    }
}
