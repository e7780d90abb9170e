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
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import millrace.Platform;
import millrace.PlatformConfig;
import millrace.Role;
import millrace.dedup.DedupSettings;
import millrace.feedback.FeedbackSettings;
import millrace.feedback.ImplicitReward;
import millrace.ingest.IngestSettings;
import millrace.kafka.EmbeddedKafka;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.kafka.TopicSetup;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.protocol.Checkpoint;
import millrace.protocol.JsonSerde;
import millrace.protocol.PolicyVersion;
import millrace.protocol.ShardDoc;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import millrace.raters.RaterAdmin;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.TokenizeSettings;
import millrace.tokenizer.Vocabularies;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;
import millrace.web.WebSettings;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * A simulated rater with a preference the model can learn and that can be checked on prompts it never rated: of two
 * answers it prefers the one that uses a target word more (ties: the shorter answer). Against a {@code small} model
 * pretrained on the sample corpus, through the real path — comparisons and ratings over HTTP, the broker, the
 * feedback role, the web role's swap — it measures how soon a rating is served, and what the policy learned.
 */
@Command(name = "feedback", mixinStandardHelpOptions = true,
        description = "Ratings to served policy versions, end to end: latency from 202 to /api/policy serving a version that "
                + "consumed the rating; held-out implicit-reward margin and accuracy, target-word rate, KL and perplexity before and after.")
final class FeedbackBench implements Callable<Integer> {
    @Option(names = "--ratings", defaultValue = "300", description = "Ratings the simulated rater makes (default: ${DEFAULT-VALUE}).")
    int ratings;

    @Option(names = "--target", defaultValue = "LORD", description = "The word the rater wants more of (default: ${DEFAULT-VALUE}).")
    String target;

    @Option(names = "--pretrain-steps", defaultValue = "600", description = "Steps of `small` on the sample corpus when no --base is given (default: ${DEFAULT-VALUE}).")
    int pretrainSteps;

    @Option(names = "--max-tokens", defaultValue = "24", description = "Tokens per answer (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--samples", defaultValue = "4", description = "Samples per held-out prompt for the target rate (default: ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--keep", description = "Keep the run's data directory (printed) instead of deleting it.")
    boolean keep;

    @Option(names = "--json", description = "Print one JSON object last.")
    boolean json;

    @Mixin
    FeedbackOptions feedback;

    private static final int SEQ = 64;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @Override
    public Integer call() throws Exception {
        Path dir = Files.createTempDirectory("millrace-bench-feedback-");
        ByteLevelBpe tokenizer = Vocabularies.builtin("r50k");
        List<String> verses = verses();
        int[] tokens = tokenizer.encode(String.join("\n", verses));
        int heldTokens = tokens.length / 50; // the last 2% of the corpus: validation rows, never trained on
        // --base: a pretrained checkpoint to start from; without one, `small` is pretrained here
        Path checkpoint = feedback.base != null ? CheckpointFormat.requireCheckpoint(feedback.base)
                : pretrain(dir.resolve("checkpoints"), tokenizer, java.util.Arrays.copyOf(tokens, tokens.length - heldTokens));
        EmbeddedKafka broker = new EmbeddedKafka(dir.resolve("kafka"), 0).start();
        Platform platform = null;
        try {
            KafkaSettings kafka = new KafkaSettings(broker.bootstrapServers(), "bench-feedback");
            TopicSetup.ensureTopics(kafka, PlatformOptions.DEFAULT_PARTITIONS, TopicSetup.AUTO_REPLICATION);
            publishRows(kafka, tokenizer, Split.VAL, java.util.Arrays.copyOfRange(tokens, tokens.length - heldTokens, tokens.length), 16);
            // the pretraining mix's rows: text the base was trained on
            publishRows(kafka, tokenizer, Split.TRAIN, java.util.Arrays.copyOf(tokens, tokens.length - heldTokens), 256);
            announce(kafka, checkpoint);
            feedback.base = checkpoint;
            feedback.rebaseEvery = 0; // the base is fixed: no pretraining runs beside this bench
            FeedbackSettings fs = feedback.settings("bench");
            WebSettings web = new WebSettings("bench", 64, 120_000, 8, 1000, 1000, 1000, 1000, 100_000, 3_600_000);
            platform = Platform.start(EnumSet.of(Role.WEB, Role.FEEDBACK), new PlatformConfig(kafka, dir,
                    IngestSettings.of(List.of()), PlatformOptions.DEFAULT_PARTITIONS, 0, 0, DedupSettings.DEFAULT,
                    new TokenizeSettings("r50k", SEQ, 16, 0.01, 2000), TrainSettings.tinyDemo("r50k", tokenizer.vocabSize(), SEQ),
                    web, fs));
            String url = "http://127.0.0.1:" + platform.httpPort();
            String token;
            try (RaterAdmin admin = new RaterAdmin(kafka)) {
                token = admin.add("simulated");
            }
            BenchSupport.await(() -> get(url + "/api/me", token).path("name").asText().equals("simulated")
                    && !get(url + "/api/policy", null).path("serving").isNull(), "the web role serving the base");

            // prompts: openings of Old Testament verses to rate, of New Testament verses never rated
            List<String> trainPrompts = new ArrayList<>();
            List<String> heldoutPrompts = new ArrayList<>();
            for (int i = 0; i < verses.size(); i += 97) {
                String verse = verses.get(i);
                String opening = opening(verse);
                if (opening == null) continue;
                if (verse.matches("^(Mat|Mr|Lu|Joh|Ac|Ro|1Co|2Co|Ga|Eph|Php|Col|1Th|2Th|1Ti|2Ti|Tit|Phm|Heb|Jas|1Pe|2Pe|1Jo|2Jo|3Jo|Jude|Re)\\d.*")) {
                    heldoutPrompts.add(opening);
                } else {
                    trainPrompts.add(opening);
                }
            }
            Collections.shuffle(trainPrompts, new Random(1));
            heldoutPrompts = heldoutPrompts.subList(0, Math.min(16, heldoutPrompts.size()));
            log("%d prompts to rate, %d held out; target '%s'; %d ratings", trainPrompts.size(), heldoutPrompts.size(), target, ratings);

            double rateBefore = targetRate(url, heldoutPrompts);
            List<ImplicitReward.Pair> heldoutPairs = new ArrayList<>();
            for (int i = 0; i < heldoutPrompts.size() * 8 && heldoutPairs.size() < 64; i++) {
                JsonNode c = compare(url, token, heldoutPrompts.get(i % heldoutPrompts.size()), 10_000 + i);
                String a = c.get("answers").get(0).get("text").asText();
                String b = c.get("answers").get(1).get("text").asText();
                int pick = prefer(c.get("answers").get(0), c.get("answers").get(1));
                if (pick == 0) heldoutPairs.add(new ImplicitReward.Pair(c.get("prompt").asText(), a, b));
                if (pick == 1) heldoutPairs.add(new ImplicitReward.Pair(c.get("prompt").asText(), b, a));
            }
            log("before: target rate %.3f on %d samples; %d held-out pairs", rateBefore, heldoutPrompts.size() * samples, heldoutPairs.size());

            // the rater at work, and a watcher of /api/policy timing each rating from its 202 to a served version holding it
            Map<Long, JsonNode> versionOffsets = new ConcurrentHashMap<>();
            List<long[]> receipts = Collections.synchronizedList(new ArrayList<>()); // partition, offset, 202 time
            Map<Integer, Double> latencies = new ConcurrentHashMap<>();
            Thread watcher = new Thread(() -> watch(url, versionOffsets, receipts, latencies), "policy-watcher");
            watcher.setDaemon(true);
            watcher.start();
            long started = System.nanoTime();
            int ties = 0;
            for (int i = 0; i < ratings; i++) {
                JsonNode c = compare(url, token, trainPrompts.get(i % trainPrompts.size()), i);
                int pick = prefer(c.get("answers").get(0), c.get("answers").get(1));
                if (pick < 0) ties++;
                String choice = pick == 0 ? "A" : pick == 1 ? "B" : "TIE";
                JsonNode receipt = post(url + "/api/ratings", token, "{\"comparisonId\":\"" + c.get("comparisonId").asText()
                        + "\",\"choice\":\"" + choice + "\",\"idempotencyKey\":\"bench-" + i + "\"}", 202);
                if (!choice.equals("TIE")) {
                    receipts.add(new long[] {receipt.get("partition").asLong(), receipt.get("offset").asLong(), System.nanoTime()});
                }
                if ((i + 1) % 50 == 0) log("%d ratings, %d served so far", i + 1, latencies.size());
            }
            double ratingSeconds = (System.nanoTime() - started) / 1e9;
            long deadline = System.nanoTime() + 180_000_000_000L;
            while (latencies.size() < receipts.size() && System.nanoTime() < deadline) Thread.sleep(200);
            watcher.interrupt();

            JsonNode policy = get(url + "/api/policy", null);
            Path served = Path.of(policy.get("serving").get("checkpoint").asText());
            List<PolicyVersion> versions = new ArrayList<>();
            TopicReader.readAll(kafka, Topics.POLICY, r -> versions.add(JsonSerde.policies().fromBytes(r.value())));
            PolicyVersion first = versions.stream().filter(v -> v.version() == 1).findFirst().orElseThrow();
            PolicyVersion last = versions.stream().max(java.util.Comparator.comparingLong(PolicyVersion::version)).orElseThrow();
            double rateAfter = targetRate(url, heldoutPrompts);
            ImplicitReward.Result before = ImplicitReward.of(checkpoint, checkpoint, heldoutPairs, fs.beta());
            ImplicitReward.Result after = ImplicitReward.of(served, checkpoint, heldoutPairs, fs.beta());
            List<Double> seconds = new ArrayList<>(latencies.values());
            Collections.sort(seconds);
            long rollbacks = versions.stream().filter(v -> v.note().startsWith("rollback")).count();

            ObjectNode o = JsonSerde.MAPPER.createObjectNode();
            o.put("ratings", ratings).put("ties", ties).put("versions", last.version()).put("rollbacks", rollbacks)
                    .put("ratings_applied", last.ratingsApplied()).put("rating_seconds", ratingSeconds)
                    .put("served", latencies.size()).put("target", target).put("cores", Runtime.getRuntime().availableProcessors());
            o.putObject("latency_seconds").put("p50", BenchSupport.percentile(seconds, 50)).put("p95", BenchSupport.percentile(seconds, 95)).put("max", BenchSupport.percentile(seconds, 100));
            o.putObject("heldout_margin").put("before", before.margin()).put("after", after.margin())
                    .put("change", after.margin() - before.margin());
            o.putObject("heldout_accuracy").put("before", before.accuracy()).put("after", after.accuracy());
            o.put("heldout_pairs", heldoutPairs.size());
            o.putObject("target_rate").put("before", rateBefore).put("after", rateAfter);
            o.put("kl", last.metrics().getOrDefault("kl", Double.NaN));
            o.putObject("heldout_perplexity").put("before", first.metrics().getOrDefault("perplexity", Double.NaN))
                    .put("after", last.metrics().getOrDefault("perplexity", Double.NaN));
            System.out.printf("%d ratings (%d ties) in %.0f s -> %d versions (%d rolled back), %d ratings applied%n",
                    ratings, ties, ratingSeconds, last.version(), rollbacks, last.ratingsApplied());
            System.out.printf("latency from 202 to serving: p50 %.2f s, p95 %.2f s (%d of %d ratings timed)%n",
                    BenchSupport.percentile(seconds, 50), BenchSupport.percentile(seconds, 95), latencies.size(), receipts.size());
            System.out.printf("held-out pairs (%d): implicit reward margin %.3f -> %.3f, accuracy %.2f -> %.2f%n",
                    heldoutPairs.size(), before.margin(), after.margin(), before.accuracy(), after.accuracy());
            System.out.printf("target '%s' in held-out samples: %.3f -> %.3f; KL %.3f nats/token; perplexity %.2f -> %.2f%n",
                    target, rateBefore, rateAfter, o.get("kl").asDouble(), o.get("heldout_perplexity").get("before").asDouble(),
                    o.get("heldout_perplexity").get("after").asDouble());
            if (json) System.out.println(JsonSerde.MAPPER.writeValueAsString(o));
            return 0;
        } finally {
            if (platform != null) platform.close();
            broker.close();
            if (keep) {
                log("data kept in %s", dir);
            } else {
                try (Stream<Path> files = Files.walk(dir)) {
                    for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
                }
            }
        }
    }

    /**
     * 0 when the rater prefers answer a, 1 for b, -1 for a tie: more of the target word, then the shorter answer (in
     * tokens: the one the model ended sooner); equal in both, a tie.
     */
    int prefer(JsonNode a, JsonNode b) {
        int ca = count(a.get("text").asText());
        int cb = count(b.get("text").asText());
        if (ca != cb) return ca > cb ? 0 : 1;
        int la = a.get("newTokens").asInt();
        int lb = b.get("newTokens").asInt();
        if (la != lb) return la < lb ? 0 : 1;
        return -1;
    }

    private int count(String text) {
        Matcher m = Pattern.compile("\\b" + Pattern.quote(target) + "\\b").matcher(text);
        int n = 0;
        while (m.find()) n++;
        return n;
    }

    /** How often the target word appears in fresh samples (fixed seeds) on the held-out prompts: per sample. */
    private double targetRate(String url, List<String> prompts) throws Exception {
        int with = 0; // occurrences
        int all = 0;
        for (String p : prompts) {
            for (int s = 0; s < samples; s++) {
                JsonNode a = post(url + "/api/generate", null, "{\"prompt\":" + JsonSerde.MAPPER.writeValueAsString(p)
                        + ",\"maxTokens\":" + maxTokens + ",\"temperature\":1,\"topK\":40,\"seed\":" + (500 + s) + "}", 200);
                with += count(a.get("text").asText());
                all++;
            }
        }
        return (double) with / all;
    }

    private JsonNode compare(String url, String token, String prompt, long seed) throws Exception {
        return post(url + "/api/compare", token, "{\"prompt\":" + JsonSerde.MAPPER.writeValueAsString(prompt) + ",\"maxTokens\":"
                + maxTokens + ",\"temperature\":1,\"topK\":40,\"seed\":" + seed + "}", 200);
    }

    /** Every 100 ms: which version is served, and which ratings the versions published so far hold. */
    private void watch(String url, Map<Long, JsonNode> versionOffsets, List<long[]> receipts, Map<Integer, Double> latencies) {
        while (!Thread.currentThread().isInterrupted()) {
            try {
                JsonNode p = get(url + "/api/policy", null);
                JsonNode newest = p.path("models").path("bench");
                if (newest.has("version")) versionOffsets.put(newest.get("version").asLong(), newest.get("ratingsOffsets"));
                JsonNode serving = p.path("serving");
                JsonNode offsets = serving.isObject() ? versionOffsets.get(serving.get("version").asLong()) : null;
                long now = System.nanoTime();
                if (offsets != null) {
                    synchronized (receipts) {
                        for (int i = 0; i < receipts.size(); i++) {
                            long[] r = receipts.get(i);
                            if (!latencies.containsKey(i) && offsets.path(Long.toString(r[0])).asLong(-1) > r[1]) {
                                latencies.put(i, (now - r[2]) / 1e9);
                            }
                        }
                    }
                }
                Thread.sleep(100);
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                log("policy watcher: %s", e);
            }
        }
    }

    private Path pretrain(Path root, ByteLevelBpe tokenizer, int[] tokens) throws Exception {
        Gpt2Config config = Gpt2Config.small(tokenizer.vocabSize(), SEQ);
        TrainSettings demo = TrainSettings.tinyDemo("r50k", tokenizer.vocabSize(), SEQ);
        TrainSettings settings = new TrainSettings("bench", config, "r50k", 8,
                new millrace.model.LearningRateSchedule(3e-3f, 3e-4f, 20, pretrainSteps), demo.clipNorm(), demo.adam(),
                demo.seed(), 60, 2, 0);
        Random random = new Random(3);
        long started = System.nanoTime();
        try (var manager = ModelTrainer.newRootManager();
                ModelTrainer trainer = new ModelTrainer(settings, manager, LanguageModel.initialize(config, manager), 0, 0)) {
            float loss = Float.NaN;
            for (int step = 0; step < pretrainSteps; step++) {
                List<int[]> rows = new ArrayList<>();
                for (int r = 0; r < 8; r++) {
                    int at = random.nextInt(tokens.length - SEQ - 1);
                    rows.add(java.util.Arrays.copyOfRange(tokens, at, at + SEQ + 1));
                }
                loss = trainer.step(rows).loss();
                if ((step + 1) % 100 == 0) log("pretraining small: step %d loss %.3f", step + 1, loss);
            }
            log("pretrained small for %d steps in %.0f s, loss %.3f", pretrainSteps, (System.nanoTime() - started) / 1e9, loss);
            return new CheckpointStore(root, "bench", 1).write(trainer, new CheckpointFormat.Meta("bench", config,
                    tokenizer.id(), trainer.step(), trainer.tokensSeen(), loss, null, System.currentTimeMillis(), null,
                    settings.seed()), tokenizer);
        }
    }

    /**
     * Rows of {@code text} as a shard on {@code millrace.shards}, as the tokenize stage ships them: validation rows (the
     * corpus's held-out tail) for the policy's perplexity, training rows for its pretraining mix.
     */
    private static void publishRows(KafkaSettings kafka, ByteLevelBpe tokenizer, Split split, int[] text, int rows)
            throws Exception {
        int width = SEQ + 1;
        int[] packed = java.util.Arrays.copyOf(text, Math.min(rows, text.length / width) * width);
        TokenShard shard = new TokenShard("bench-" + split.label(), tokenizer.id(), SEQ, split,
                List.of(new ShardDoc("bench-" + split.label(), packed.length)), packed);
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.producer("bench"))) {
            p.send(new ProducerRecord<>(Topics.SHARDS, shard.id(), TokenShardCodec.encode(shard))).get();
        }
    }

    private static void announce(KafkaSettings kafka, Path checkpoint) throws Exception {
        CheckpointFormat.Meta meta = CheckpointFormat.readMeta(checkpoint);
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.producer("bench"))) {
            Checkpoint c = new Checkpoint("bench", meta.step(), meta.tokensSeen(), Map.of(), checkpoint.toAbsolutePath().toString(),
                    meta.trainLoss(), null, meta.tokenizerId(), System.currentTimeMillis());
            p.send(new ProducerRecord<>(Topics.CHECKPOINTS, "bench", JsonSerde.checkpoints().toBytes(c))).get();
        }
    }

    /** The sample corpus's verses, one per line, in book order. */
    private static List<String> verses() throws Exception {
        List<String> out = new ArrayList<>();
        try (Stream<Path> books = Files.list(BenchSupport.repoFile("corpus/kjv"))) {
            for (Path book : books.sorted().toList()) {
                for (String line : Files.readAllLines(book)) if (!line.isBlank()) out.add(line.strip());
            }
        }
        return out;
    }

    /** A verse's first four words, without its reference: "Ge1:3 And God said, Let there..." → "And God said, Let". */
    private static String opening(String verse) {
        String[] words = verse.split("\\s+");
        if (words.length < 6) return null;
        return String.join(" ", java.util.Arrays.copyOfRange(words, 1, 5));
    }

    private JsonNode post(String url, String token, String body, int expected) throws Exception {
        for (int attempt = 0; ; attempt++) {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(2))
                    .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
            if (token != null) b.header("authorization", "Bearer " + token);
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == expected) return JsonSerde.MAPPER.readTree(r.body());
            if (r.statusCode() != 503 || attempt > 20) throw new IllegalStateException(url + ": HTTP " + r.statusCode() + " " + r.body());
            Thread.sleep(1000L * Long.parseLong(r.headers().firstValue("retry-after").orElse("1")));
        }
    }

    private JsonNode get(String url, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30));
        if (token != null) b.header("authorization", "Bearer " + token);
        return JsonSerde.MAPPER.readTree(http.send(b.build(), HttpResponse.BodyHandlers.ofString()).body());
    }

    private static void log(String format, Object... args) {
        System.err.printf(format + "%n", args);
    }
}
