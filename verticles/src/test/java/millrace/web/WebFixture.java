package millrace.web;

import millrace.model.CheckpointFormat;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import millrace.Platform;
import millrace.PlatformConfig;
import millrace.Role;
import millrace.dedup.DedupSettings;
import millrace.ingest.IngestSettings;
import millrace.kafka.TestKafka;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.protocol.Checkpoint;
import millrace.protocol.JsonSerde;
import millrace.protocol.Topics;
import millrace.raters.RaterAdmin;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.TokenizeSettings;
import millrace.tokenizer.Vocabularies;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * A web role on a real broker with a model to serve: a tiny GPT's checkpoint (r50k, random weights: what it says does
 * not matter here, only that it says it) announced on {@code millrace.checkpoints}, as the trainer announces one.
 */
public final class WebFixture implements AutoCloseable {
    final TestKafka kafka;
    final Platform platform;
    final Path checkpoint;
    final String base;
    final HttpClient http = HttpClient.newHttpClient();

    WebFixture(Path dir, WebSettings web) throws Exception {
        this(dir, web, null);
    }

    /** Serving {@code model}'s checkpoint (announced as {@code web}'s model), or a fresh tiny one when null. */
    WebFixture(Path dir, WebSettings web, Path model) throws Exception {
        kafka = TestKafka.start(dir.resolve("kafka"), 2);
        try {
            checkpoint = model != null ? model : writeCheckpoint(dir.resolve("data/checkpoints"), "millrace", 0);
            announce(kafka.settings("announce"), web.model(), checkpoint);
            TrainSettings demo = TrainSettings.tinyDemo("r50k", 50257, 16);
            PlatformConfig config = new PlatformConfig(kafka.settings("web-test"), dir.resolve("data"),
                    IngestSettings.of(List.of()), 2, 0, 0, DedupSettings.DEFAULT,
                    new TokenizeSettings("r50k", 16, 8, 0.1, 500), demo, web,
                    millrace.feedback.FeedbackSettings.defaults("millrace"));
            platform = Platform.start(EnumSet.of(Role.WEB), config);
            base = "http://127.0.0.1:" + platform.httpPort();
            awaitServed(0);
        } catch (Exception | Error e) {
            kafka.close();
            throw e;
        }
    }

    /** A tiny model's checkpoint at {@code step}, with the r50k tokenizer, written as the trainer writes one. */
    public static Path writeCheckpoint(Path root, String model, long step) throws Exception {
        ByteLevelBpe tokenizer = Vocabularies.builtin("r50k");
        TrainSettings settings = TrainSettings.tinyDemo("r50k", tokenizer.vocabSize(), 16);
        try (var manager = ModelTrainer.newRootManager();
                ModelTrainer trainer = new ModelTrainer(settings, manager, LanguageModel.initialize(Gpt2Config.tiny(tokenizer.vocabSize(), 16), manager), step, 0)) {
            return new CheckpointStore(root, model, 5).write(trainer, new CheckpointFormat.Meta(model, settings.model(),
                    tokenizer.id(), step, 0, 10f, null, System.currentTimeMillis(), null, settings.seed()), tokenizer);
        }
    }

    void announce(Path checkpoint, long step) throws Exception {
        announce(kafka.settings("announce"), "millrace", checkpoint);
    }

    /** Announces a checkpoint of {@code model} on {@code millrace.checkpoints}, as the trainer does. */
    public static void announce(millrace.kafka.KafkaSettings kafka, String model, Path checkpoint) throws Exception {
        CheckpointFormat.Meta meta = CheckpointFormat.readMeta(checkpoint);
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.producer("test"))) {
            Checkpoint c = new Checkpoint(model, meta.step(), 0, java.util.Map.of(), checkpoint.toAbsolutePath().toString(),
                    10, null, meta.tokenizerId(), System.currentTimeMillis());
            p.send(new ProducerRecord<>(Topics.CHECKPOINTS, model, JsonSerde.checkpoints().toBytes(c))).get();
        }
    }

    /** Waits until the web role answers with policy version {@code version}. */
    void awaitServed(long version) throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        while (true) {
            var policy = JsonSerde.MAPPER.readTree(get("/api/policy", null).body()).path("serving");
            if (!policy.isMissingNode() && !policy.isNull() && policy.get("version").asLong() == version) return;
            if (System.currentTimeMillis() > deadline) throw new AssertionError("version " + version + " never served: " + policy);
            Thread.sleep(100);
        }
    }

    /** A new rater's token, once the web role knows it (within a poll of millrace.raters). */
    String rater(String name) throws Exception {
        String token;
        try (RaterAdmin admin = new RaterAdmin(kafka.settings("admin"))) {
            token = admin.add(name);
        }
        long deadline = System.currentTimeMillis() + 5_000;
        while (get("/api/me", token).statusCode() != 200) {
            if (System.currentTimeMillis() > deadline) throw new AssertionError("the web role never learned of " + name);
            Thread.sleep(20);
        }
        return token;
    }

    HttpResponse<String> post(String path, String token, String contentType, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) b.header("content-type", contentType);
        if (token != null) b.header("authorization", "Bearer " + token);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> postJson(String path, String token, String body) throws Exception {
        return post(path, token, "application/json", body);
    }

    HttpResponse<String> get(String path, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60));
        if (token != null) b.header("authorization", "Bearer " + token);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Another web process, by its address. */
    record Remote(HttpClient http, String base) {
        int status(String path, String token) throws Exception {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(10));
            if (token != null) b.header("authorization", "Bearer " + token);
            try {
                return http.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
            } catch (java.io.IOException notListeningYet) {
                return -1;
            }
        }
    }

    @Override
    public void close() {
        try {
            platform.close();
        } finally {
            kafka.close();
        }
    }
}
