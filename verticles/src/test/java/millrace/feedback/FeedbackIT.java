package millrace.feedback;

import millrace.model.CheckpointFormat;
import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import millrace.Platform;
import millrace.PlatformConfig;
import millrace.Role;
import millrace.dedup.DedupSettings;
import millrace.ingest.IngestSettings;
import millrace.kafka.TestKafka;
import millrace.metrics.Metrics;
import millrace.protocol.JsonSerde;
import millrace.protocol.PolicyVersion;
import millrace.protocol.Rating;
import millrace.protocol.Topics;
import millrace.raters.RaterAdmin;
import millrace.tokenizer.TokenizeSettings;
import millrace.train.TrainSettings;
import millrace.web.WebSettings;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The feedback loop on a real broker: ratings through the web role become policy versions that the web role serves
 * (no request failing under concurrent generation meanwhile); a rebuild of the lineage gives the same weights bit for
 * bit, and without a rater different ones; a version past a bound is rolled back; and a feedback process killed with
 * SIGKILL mid-update and restarted applies every rating exactly once.
 */
class FeedbackIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(2);

    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newHttpClient();

    private static Path baseCheckpoint(Path dir, String model) throws Exception {
        return millrace.web.WebFixture.writeCheckpoint(dir.resolve("checkpoints"), model, 0);
    }

    private static FeedbackSettings settings(String model, Path base, float maxKl) {
        FeedbackSettings d = FeedbackSettings.defaults(model);
        return new FeedbackSettings(model, base, 0.5f, 0f, 1f, 1f, 1f, 0f, 1e-3f, 2, 8, 4, 100, 0.5f, 0f, maxKl,
                1000f, 0, 11, d.keepVersions());
    }

    private PlatformConfig config(Set<Role> roles, FeedbackSettings feedback) {
        TrainSettings demo = TrainSettings.tinyDemo("r50k", 50257, 16);
        return new PlatformConfig(kafka.settings("feedback-it-" + roles.size()), dir.resolve("data"), IngestSettings.of(List.of()), 2,
                0, 0, DedupSettings.DEFAULT, new TokenizeSettings("r50k", 16, 8, 0.1, 500), demo,
                WebSettings.defaults(feedback.model()), feedback);
    }

    private JsonNode json(HttpResponse<String> r) throws Exception {
        return JsonSerde.MAPPER.readTree(r.body());
    }

    private HttpResponse<String> post(String url, String token, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).header("content-type", "application/json")
                .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body));
        if (token != null) b.header("authorization", "Bearer " + token);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode get(String url) throws Exception {
        return json(http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()));
    }

    @Test
    void ratingsBecomeVersionsTheWebServesWithoutAFailedRequestAndARebuildGivesTheSameWeights() throws Exception {
        Path base = baseCheckpoint(dir, "millrace");
        millrace.web.WebFixture.announce(kafka.settings("announce"), "millrace", base);
        Platform platform = Platform.start(EnumSet.of(Role.WEB, Role.FEEDBACK), config(EnumSet.of(Role.WEB, Role.FEEDBACK),
                settings("millrace", base, 1000f)));
        String token;
        try (RaterAdmin admin = new RaterAdmin(kafka.settings("admin"))) {
            token = admin.add("ann");
        }
        String web = "http://127.0.0.1:" + platform.httpPort();
        AtomicBoolean generating = new AtomicBoolean(true);
        AtomicInteger answered = new AtomicInteger();
        List<String> failures = new ArrayList<>();
        Thread load = new Thread(() -> {
            while (generating.get()) {
                try {
                    HttpResponse<String> r = post(web + "/api/generate", null, "{\"prompt\":\"In the\",\"maxTokens\":6}");
                    if (r.statusCode() == 200) answered.incrementAndGet();
                    else if (r.statusCode() != 503 || !r.body().contains("no checkpoint")) failures.add(r.statusCode() + " " + r.body());
                } catch (Exception e) {
                    failures.add(e.toString());
                }
            }
        });
        try {
            awaitStatus(web + "/api/me", token, 200);
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (get(web + "/api/policy").path("serving").isNull() || get(web + "/api/policy").path("serving").isMissingNode()) {
                assertTrue(System.nanoTime() < deadline, "the web role never served the base");
                Thread.sleep(100);
            }
            load.start();
            List<JsonNode> receipts = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                JsonNode c = json(post(web + "/api/compare", token, "{\"prompt\":\"And God said\",\"maxTokens\":8,\"seed\":" + i + "}"));
                HttpResponse<String> r = post(web + "/api/ratings", token, "{\"comparisonId\":\"" + c.get("comparisonId").asText()
                        + "\",\"choice\":\"" + (i % 2 == 0 ? "A" : "B") + "\"}");
                assertEquals(202, r.statusCode(), r.body());
                receipts.add(json(r));
            }
            // the web role serves a version that consumed every rating: by the offsets its PolicyVersion records
            JsonNode serving = awaitPolicy(web, receipts);
            assertTrue(serving.get("version").asLong() >= 2, serving.toString());
            JsonNode compared = json(post(web + "/api/compare", token, "{\"prompt\":\"And God said\",\"maxTokens\":4}"));
            assertEquals(serving.get("version").asLong(), compared.get("answers").get(0).get("policyVersion").asLong());
            generating.set(false);
            load.join();
            assertEquals(List.of(), failures, "requests failed while versions were swapped in");
            assertTrue(answered.get() > 0);
            assertTrue(Metrics.FEEDBACK_RATING_TO_POLICY_SECONDS.collect().getDataPoints().get(0).getCount() >= 6);
            // the page: rate, and see the served version rise
            if (millrace.web.PageInChromium.available()) millrace.web.PageInChromium.rateAndSeeThePolicyRise(web, token);
        } finally {
            generating.set(false);
            platform.close();
        }

        // the role is down: rebuild the newest version's lineage on the same base, and compare the weights
        PolicyStore store = new PolicyStore(dir.resolve("data"), "millrace", 5);
        Path online = store.latest().orElseThrow();
        PolicyStore.Meta onlineMeta = PolicyStore.readMeta(online);
        PolicyRebuilder.Outcome rebuilt = PolicyRebuilder.rebuild(kafka.settings("rebuild"), dir.resolve("data"), "millrace", null, Set.of());
        assertEquals(onlineMeta.version() + 1, rebuilt.version());
        assertEquals(onlineMeta.ratingsApplied(), rebuilt.ratingsApplied());
        assertArrayEquals(Files.readAllBytes(online.resolve(CheckpointFormat.WEIGHTS)),
                Files.readAllBytes(rebuilt.checkpoint().resolve(CheckpointFormat.WEIGHTS)), "rebuild == online, bit for bit");
        PolicyRebuilder.Outcome without = PolicyRebuilder.rebuild(kafka.settings("rebuild"), dir.resolve("data"), "millrace", null, Set.of("ann"));
        assertEquals(0, without.ratingsApplied());
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(online.resolve(CheckpointFormat.WEIGHTS)),
                Files.readAllBytes(without.checkpoint().resolve(CheckpointFormat.WEIGHTS))), "ann's ratings are out");
        assertTrue(FeedbackAudit.read(store.auditDir()).stream().filter(e -> e.outcome() != FeedbackAudit.Outcome.OTHER_MODEL)
                .allMatch(e -> e.outcome() == FeedbackAudit.Outcome.EXCLUDED), "the newest lineage lists every rating of ann's as excluded");
        PolicyVersion announced = lastPolicy("millrace");
        assertEquals(without.version(), announced.version());
        assertTrue(announced.note().contains("without ann"), announced.note());
    }

    /**
     * A model fine-tuned with {@code ./millrace sft} as the policy's base: the web role serves it (in chat) before anyone
     * rates, and an edited answer teaches it in its own format — the edit's chat-format log-probability rises.
     */
    @Test
    void aChosenChatBaseIsServedBeforeAnyRatingAndLearnsInItsOwnFormat() throws Exception {
        Path chat = millrace.sft.TinyChatModel.fineTune(millrace.sft.TinyChatModel.base(dir.resolve("pretrained"),
                millrace.sft.TinyChatModel.tokenizer()), dir.resolve("sft"), "tuned", line -> { });
        Platform platform = Platform.start(EnumSet.of(Role.WEB, Role.FEEDBACK), config(EnumSet.of(Role.WEB, Role.FEEDBACK),
                settings("chatty", chat, 1000f)));
        String token;
        try (RaterAdmin admin = new RaterAdmin(kafka.settings("admin"))) {
            token = admin.add("eve");
        }
        String web = "http://127.0.0.1:" + platform.httpPort();
        try {
            // (the other tests' ratings on the topic are for other models: versions that learn nothing may follow)
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (get(web + "/api/policy").path("serving").path("version").asLong() < 1) {
                assertTrue(System.nanoTime() < deadline, "the chosen base never served: " + get(web + "/api/policy"));
                Thread.sleep(100);
            }
            JsonNode serving = get(web + "/api/policy").path("serving");
            assertTrue(serving.path("base").asText().endsWith("base-tuned-000000150"), serving.toString());
            assertTrue(serving.path("chat").asBoolean(), "served as a chat model: " + serving);
            awaitStatus(web + "/api/me", token, 200);
            String prompt = "Who wrote the letter?";
            JsonNode c = json(post(web + "/api/compare", token, "{\"prompt\":\"" + prompt + "\",\"temperature\":0,\"maxTokens\":48}"));
            assertEquals("Jude, the servant of Jesus Christ.", c.get("answers").get(0).get("text").asText(), c.toString());
            String edit = "Jude, a servant.";
            HttpResponse<String> r = post(web + "/api/ratings", token, "{\"comparisonId\":\"" + c.get("comparisonId").asText()
                    + "\",\"editedAnswer\":\"" + edit + "\",\"answer\":0}");
            assertEquals(202, r.statusCode(), r.body());
            PolicyVersion learned = awaitPolicy("chatty", p -> p.ratingsApplied() == 1);
            assertTrue(logProb(Path.of(learned.checkpointLocation()), prompt, edit) > logProb(Path.of(learned.base()), prompt, edit) + 0.5,
                    "the edit, as the chat model's answer, became likelier");
        } finally {
            platform.close();
        }
    }

    /** log p(answer and its end | prompt) under a checkpoint, in its own format (chat turns for a chat model). */
    private static double logProb(Path checkpoint, String prompt, String answer) throws Exception {
        millrace.sft.PromptFormat format = millrace.sft.PromptFormat.of(checkpoint);
        assertTrue(format.chat(), checkpoint + " is a chat model");
        try (var root = millrace.train.ModelTrainer.newRootManager(); var gpt = CheckpointFormat.loadModel(checkpoint, root);
                var scope = root.newSubManager()) {
            gpt.attachTo(scope);
            var sequence = format.answer(prompt, answer, gpt.config().contextLength());
            return millrace.sft.ScoredSequence.logProbSums(gpt, List.of(sequence), scope).getFloat();
        }
    }

    @Test
    void aVersionPastItsKlBoundIsRolledBack() throws Exception {
        Path base = baseCheckpoint(dir, "strict");
        double rollbacks = Metrics.FEEDBACK_ROLLBACKS.get();
        Platform platform = Platform.start(EnumSet.of(Role.FEEDBACK), config(EnumSet.of(Role.FEEDBACK), settings("strict", base, 1e-9f)));
        try {
            produceRatings("strict", "bo", 0, 4);
            PolicyVersion rolledBack = awaitPolicy("strict", p -> p.note().startsWith("rollback"));
            assertTrue(rolledBack.note().contains("KL"), rolledBack.note());
            assertEquals(0, rolledBack.ratingsApplied());
            assertTrue(rolledBack.metrics().containsKey("rejected_kl"));
            Path v1 = Path.of(rolledBack.checkpointLocation()).resolveSibling("v-000000001");
            assertArrayEquals(Files.readAllBytes(v1.resolve(CheckpointFormat.WEIGHTS)),
                    Files.readAllBytes(Path.of(rolledBack.checkpointLocation()).resolve(CheckpointFormat.WEIGHTS)),
                    "the rolled-back version serves the last good weights");
            assertTrue(Metrics.FEEDBACK_ROLLBACKS.get() - rollbacks >= 1);
        } finally {
            platform.close();
        }
    }

    @Test
    void everyFewPretrainingCheckpointsTheLineageIsReplayedOntoTheNewest() throws Exception {
        Path first = millrace.web.WebFixture.writeCheckpoint(dir.resolve("checkpoints"), "rebase", 10);
        millrace.web.WebFixture.announce(kafka.settings("announce"), "rebase", first);
        FeedbackSettings d = settings("rebase", null, 1000f);
        FeedbackSettings rebaseEveryOne = new FeedbackSettings("rebase", null, d.beta(), 0f, 1f, 1f, 1f, 0f,
                d.learningRate(), d.stepsPerUpdate(), d.maxUpdateRatings(), d.replay(), d.maxWaitMillis(), 0.5f, 0f,
                1000f, 1000f, 1, d.seed(), 5);
        Platform platform = Platform.start(EnumSet.of(Role.FEEDBACK), config(EnumSet.of(Role.FEEDBACK), rebaseEveryOne));
        try {
            produceRatings("rebase", "di", 0, 4);
            PolicyVersion learned = awaitPolicy("rebase", p -> p.ratingsApplied() == 4);
            assertTrue(learned.base().endsWith("base-rebase-000000010"), learned.base());
            Path newer = millrace.web.WebFixture.writeCheckpoint(dir.resolve("checkpoints"), "rebase", 20);
            millrace.web.WebFixture.announce(kafka.settings("announce"), "rebase", newer);
            PolicyVersion rebased = awaitPolicy("rebase", p -> p.note().startsWith("rebase onto"));
            assertTrue(rebased.base().endsWith("base-rebase-000000020"), rebased.base());
            assertEquals(4, rebased.ratingsApplied(), "the same ratings, replayed onto the newer base");
            assertEquals(learned.ratingsOffsets(), rebased.ratingsOffsets());
            assertTrue(rebased.version() > learned.version());
        } finally {
            platform.close();
        }
    }

    @Test
    void aFeedbackProcessKilledMidUpdateAppliesEveryRatingOnce() throws Exception {
        Path base = baseCheckpoint(dir, "kill");
        List<String> produced = new ArrayList<>();
        Process first = feedback(dir.resolve("first.log"), base);
        long deadline = System.nanoTime() + 120_000_000_000L;
        int batch = 0;
        Path audit = dir.resolve("data/policies/kill/audit");
        // ratings arrive in small bursts: updates follow each other, and the kill lands in one
        while (FeedbackAudit.read(audit).stream().filter(e -> e.outcome() == FeedbackAudit.Outcome.APPLIED).count() < 12) {
            assertTrue(first.isAlive(), () -> read(dir.resolve("first.log")));
            assertTrue(System.nanoTime() < deadline, () -> "no versions within 120 s: " + read(dir.resolve("first.log")));
            produced.addAll(produceRatings("kill", "cy", batch++ * 3, 3));
            Thread.sleep(600); // about an update's time: a short backlog, so that the kill lands mid-update
        }
        produced.addAll(produceRatings("kill", "cy", batch++ * 3, 3));
        Thread.sleep(120);
        first.destroyForcibly().waitFor(); // SIGKILL: whatever update was running dies with it
        int audited = FeedbackAudit.read(audit).size();
        for (int i = 0; i < 4; i++) produced.addAll(produceRatings("kill", "cy", batch++ * 3, 3));
        Process second = feedback(dir.resolve("second.log"), base);
        try {
            while (FeedbackAudit.read(audit).stream().filter(e -> e.outcome() != FeedbackAudit.Outcome.OTHER_MODEL).count()
                    < produced.size()) {
                assertTrue(second.isAlive(), () -> read(dir.resolve("second.log")));
                assertTrue(System.nanoTime() < deadline + 120_000_000_000L, () -> "not all applied: " + read(dir.resolve("second.log")));
                Thread.sleep(200);
            }
            Thread.sleep(500);
        } finally {
            second.destroy();
            second.waitFor();
        }
        // the policy consumed the other tests' ratings too (other models: nothing to learn); these are its model's
        List<FeedbackAudit.Entry> entries = FeedbackAudit.read(audit).stream()
                .filter(e -> e.outcome() != FeedbackAudit.Outcome.OTHER_MODEL).toList();
        List<String> ids = entries.stream().map(FeedbackAudit.Entry::ratingId).toList();
        java.util.Map<String, Long> counts = new java.util.TreeMap<>();
        for (String id : ids) counts.merge(id, 1L, Long::sum);
        counts.values().removeIf(n -> n == 1);
        assertEquals(produced.size(), ids.size(), "no rating twice (killed after " + audited + " audited): " + counts
                + " in " + entries.stream().filter(e -> counts.containsKey(e.ratingId())).toList() + "\n"
                + read(dir.resolve("first.log")).lines().filter(l -> l.contains("feedback:")).toList() + "\n"
                + read(dir.resolve("second.log")).lines().filter(l -> l.contains("feedback:")).toList());
        assertEquals(new TreeSet<>(produced), new TreeSet<>(ids), "every rating once");
        assertTrue(entries.stream().allMatch(e -> e.outcome() == FeedbackAudit.Outcome.APPLIED), entries.toString());
        assertTrue(read(dir.resolve("second.log")).contains("resumed kill at version"), read(dir.resolve("second.log")));
    }

    private Process feedback(Path log, Path base) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        return new ProcessBuilder(java, "-Xmx1g", "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                "millrace.cli.Main", "run", "--roles", "feedback", "--kafka", kafka.settings("x").bootstrapServers(),
                "--data-dir", dir.resolve("data").toString(), "--model-name", "kill", "--base", base.toString(),
                "--ops-port", "0", "--instance-id", "feedback-kill", "--max-wait-ms", "0", "--max-update-ratings", "3",
                "--feedback-steps", "2", "--heldout-share", "0", "--max-kl", "1000", "--max-perplexity-rise", "1000",
                "--rebase-every", "0").redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** Ratings of {@code model}'s answers put on the topic as the web role would; their ids. */
    private List<String> produceRatings(String model, String rater, int from, int n) throws Exception {
        List<String> ids = new ArrayList<>();
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.settings("ratings").producer("test"))) {
            for (int i = from; i < from + n; i++) {
                Rating r = new Rating(model + "-r" + i, rater, "c" + i, model, 1, "ck", "And God said", List.of(" Let there be light",
                        " and it was"), i % 2 == 0 ? Rating.Choice.A : Rating.Choice.B, null, null, null, null, System.currentTimeMillis());
                p.send(new ProducerRecord<>(Topics.RATINGS, r.id(), JsonSerde.ratings().toBytes(r))).get();
                ids.add(r.id());
            }
        }
        return ids;
    }

    private PolicyVersion lastPolicy(String model) {
        List<PolicyVersion> all = kafka.read(Topics.POLICY, JsonSerde.policies()::fromBytes).stream()
                .filter(p -> p.model().equals(model)).toList();
        return all.get(all.size() - 1);
    }

    private PolicyVersion awaitPolicy(String model, java.util.function.Predicate<PolicyVersion> ok) throws Exception {
        return kafka.await(Topics.POLICY, JsonSerde.policies()::fromBytes,
                l -> l.stream().anyMatch(p -> p.model().equals(model) && ok.test(p)), Duration.ofSeconds(120))
                .stream().filter(p -> p.model().equals(model) && ok.test(p)).findFirst().orElseThrow();
    }

    /** The version /api/policy serves once its ratings offsets cover every receipt. */
    private JsonNode awaitPolicy(String web, List<JsonNode> receipts) throws Exception {
        long deadline = System.nanoTime() + 120_000_000_000L;
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            last = get(web + "/api/policy");
            JsonNode serving = last.path("serving");
            JsonNode newest = last.path("models").path("millrace");
            if (!serving.isMissingNode() && !serving.isNull() && newest.has("ratingsOffsets")
                    && serving.get("version").asLong() == newest.get("version").asLong()) {
                JsonNode offsets = newest.get("ratingsOffsets");
                if (receipts.stream().allMatch(r -> offsets.path(r.get("partition").asText()).asLong(-1) > r.get("offset").asLong())) {
                    return serving;
                }
            }
            Thread.sleep(200);
        }
        throw new AssertionError("no served version consumed every rating: " + last);
    }

    private void awaitStatus(String url, String token, int status) throws Exception {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (http.send(HttpRequest.newBuilder(URI.create(url)).header("authorization", "Bearer " + token).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode() != status) {
            assertTrue(System.nanoTime() < deadline, url);
            Thread.sleep(100);
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return "(no log)";
        }
    }
}
