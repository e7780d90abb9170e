package millrace.faults;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Consumer;
import millrace.kafka.EmbeddedKafka;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rejection;
import millrace.protocol.Topics;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * The whole pipeline under faults: the broker and every role in its own process ({@code broker}, {@code run --roles X}),
 * a corpus streamed in while a seeded injector kills each role with SIGKILL and SIGTERM, and the broker with SIGKILL,
 * each several times, every process started again at once; then an audit of the topics and the trainer's audit
 * ({@link StreamAudit}), while a rater compares and rates through the web role and the feedback role learns from the
 * ratings; then bad input at volume, with no fault running: mutated requests to every HTTP route
 * ({@link HttpFuzzer}) and mutated files to ingest, each counted against the metrics.
 */
public final class FaultSuite {
    /**
     * @param documents valid documents in the corpus (malformed lines come on top, {@code malformedShare} of them)
     * @param faultsPerKind faults of each kind (role × signal, and the broker's SIGKILL)
     * @param fuzzRequests mutated HTTP requests
     * @param fuzzFiles mutated files for ingest
     */
    public record Settings(Path dir, Path kjv, long seed, int documents, double malformedShare, int documentsPerFile,
            int faultsPerKind, int fuzzRequests, int fuzzFiles, Duration drainTimeout) {}

    /** One fault: what was done to which process, and how long it took to be ready again. */
    public record Fault(String kind, String target, double recoverySeconds) {}

    /** Everything the suite measured. */
    public record Report(List<Fault> faults, StreamAudit.Result audit, HttpFuzzer.Result http, long httpRejections,
            long httpRejectionsCounted, int fuzzFiles, long fileRejections, long fileRejectionsCounted,
            Map<String, Integer> unexpectedDeaths, double seconds) {
        public boolean passed() {
            return audit.lost() == 0 && audit.duplicated() == 0 && http.failures().isEmpty()
                    && httpRejections == httpRejectionsCounted && fileRejections == fileRejectionsCounted
                    && unexpectedDeaths.values().stream().allMatch(n -> n == 0);
        }
    }

    public static final List<String> ROLES = List.of("ingest", "dedup", "tokenize", "train", "web", "feedback");
    private static final int BATCH = 8;
    private static final String CORPUS = "corpus";
    private static final String FILLER = "filler";
    /** HTTP/1.1: the JDK client's default h2c upgrade attempt can leave a plain HTTP/1.1 server's answer unread. */
    private static final HttpClient METRICS = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    private final Settings settings;
    private final Consumer<String> log;
    private final Map<String, ChildProcess> processes = new LinkedHashMap<>();
    private final Map<String, Integer> unexpectedDeaths = new TreeMap<>();
    private String bootstrap;
    private int httpPort;
    private final Map<String, Integer> opsPorts = new LinkedHashMap<>();

    public FaultSuite(Settings settings, Consumer<String> log) {
        this.settings = settings;
        this.log = log;
    }

    public Report run() throws Exception {
        long started = System.nanoTime();
        Path corpus = Files.createDirectories(settings.dir().resolve("corpus-in"));
        try {
            startAll(corpus);
            CorpusFeed feed = new CorpusFeed(settings.kjv(), 4, corpus, settings.seed());
            RatingClient rater = new RatingClient("http://127.0.0.1:" + httpPort, addRater(), settings.seed());
            Thread rating = new Thread(rater, "faults-rater");
            rating.start();
            List<Fault> faults;
            try {
                faults = injectWhileFeeding(feed);
            } finally {
                rater.stop();
                rating.join(60_000);
            }
            // the audit takes the acknowledged ratings once the rater is done: none may come after it
            if (rating.isAlive()) throw new IllegalStateException("the rater did not stop within 60 s");
            log.accept(String.format("%d faults injected, %d ratings acknowledged; draining", faults.size(),
                    rater.acknowledged().size()));
            StreamAudit.Result audit = drain(feed, rater.acknowledged());
            log.accept("audit: " + audit.stages());

            HttpFuzzer.Result http;
            long before = webRejectionsCounted();
            http = new HttpFuzzer("http://127.0.0.1:" + httpPort, settings.seed()).run(settings.fuzzRequests());
            long counted = webRejectionsCounted() - before;
            long rejections = http.byStatus().getOrDefault("4xx", 0);
            log.accept(String.format("http fuzz: %s, %d busy, %d failures; 4xx %d answered, %d counted", http.byStatus(),
                    http.busy(), http.failures().size(), rejections, counted));

            long[] files = fuzzIngest(feed);
            log.accept(String.format("file fuzz: %d files, %d rejections on %s, %d counted", settings.fuzzFiles(),
                    files[0], Topics.DOCS_REJECTED, files[1]));
            checkAlive();
            return new Report(faults, audit, http, rejections, counted, settings.fuzzFiles(), files[0], files[1],
                    new TreeMap<>(unexpectedDeaths), (System.nanoTime() - started) / 1e9);
        } finally {
            for (ChildProcess p : processes.values()) p.close();
        }
    }

    private void startAll(Path corpus) throws Exception {
        int kafkaPort = EmbeddedKafka.freePort();
        bootstrap = "127.0.0.1:" + kafkaPort;
        Path logs = Files.createDirectories(settings.dir().resolve("logs"));
        ChildProcess broker = new ChildProcess("broker", ChildProcess.millrace("768m", List.of("broker", "--data-dir",
                settings.dir().resolve("broker").toString(), "--kafka-port", Integer.toString(kafkaPort), "--partitions", "2")),
                logs.resolve("broker.log"), this::brokerReady);
        processes.put("broker", broker);
        broker.start();
        require(broker.awaitReady(Duration.ofSeconds(120)), broker);
        httpPort = EmbeddedKafka.freePort();
        for (String role : ROLES) {
            int ops = EmbeddedKafka.freePort();
            opsPorts.put(role, ops);
            List<String> args = new ArrayList<>(List.of("run", "--roles", role, "--kafka", bootstrap,
                    "--data-dir", settings.dir().resolve(role).toString(), "--ops-port", Integer.toString(ops),
                    "--instance-id", "faults-" + role, "--seq-len", "32", "--partitions", "2"));
            switch (role) {
                case "ingest" -> args.addAll(List.of("--corpus", corpus.toString(), "--watch", "1"));
                case "train" -> args.addAll(List.of("--model", "tiny", "--batch-size", Integer.toString(BATCH),
                        "--checkpoint-every", "2", "--eval-every", "0"));
                case "web" -> args.addAll(List.of("--http-port", Integer.toString(httpPort)));
                case "feedback" -> args.addAll(List.of("--max-wait-ms", "1000", "--heldout-share", "0"));
                default -> { }
            }
            ChildProcess p = new ChildProcess(role, ChildProcess.millrace(role.equals("train") ? "1g" : "512m", args),
                    logs.resolve(role + ".log"), ChildProcess.httpReady("http://127.0.0.1:" + ops + "/ready"));
            processes.put(role, p);
            p.start();
        }
        for (String role : ROLES) require(processes.get(role).awaitReady(Duration.ofSeconds(180)), processes.get(role));
        log.accept("broker and " + ROLES.size() + " roles ready, each in its own process");
    }

    /** A rater's token, from {@code raters add} against the broker, as an operator would make one. */
    private String addRater() throws Exception {
        Process p = new ProcessBuilder(ChildProcess.millrace("256m", List.of("raters", "add", "faults-rater", "--kafka", bootstrap)))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        if (p.waitFor() != 0) throw new IllegalStateException("raters add failed:\n" + out);
        String last = out.strip().lines().reduce((a, b) -> b).orElse("");
        return last.substring(last.lastIndexOf(' ') + 1);
    }

    private boolean brokerReady() {
        java.util.Properties p = new java.util.Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        try (Admin admin = Admin.create(p)) {
            return admin.listTopics().names().get().contains(Topics.SHARDS);
        } catch (Exception e) {
            return false;
        }
    }

    private static void require(Duration ready, ChildProcess p) throws IOException {
        if (ready == null) {
            List<String> lines = Files.readAllLines(p.log());
            throw new IllegalStateException(p.name() + " did not become ready; its log ends:\n"
                    + String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size())));
        }
    }

    /** Writes the corpus a file at a time while the faults come, in a seeded order at seeded moments. */
    private List<Fault> injectWhileFeeding(CorpusFeed feed) throws Exception {
        List<String[]> plan = new ArrayList<>();
        for (int i = 0; i < settings.faultsPerKind(); i++) {
            for (String role : ROLES) {
                plan.add(new String[] {"sigkill", role});
                plan.add(new String[] {"sigterm", role});
            }
            plan.add(new String[] {"sigkill", "broker"});
        }
        Random random = new Random(settings.seed());
        Collections.shuffle(plan, random);
        int files = (settings.documents() + settings.documentsPerFile() - 1) / settings.documentsPerFile();
        List<Fault> faults = new ArrayList<>();
        int written = 0;
        for (int i = 0; i < Math.max(files, plan.size()); i++) {
            if (written < settings.documents()) {
                int n = Math.min(settings.documentsPerFile(), settings.documents() - written);
                feed.writeFile(CORPUS, n, settings.malformedShare());
                written += n;
            }
            if (i < plan.size()) {
                Thread.sleep(500 + random.nextInt(2500));
                faults.add(inject(plan.get(i)[0], plan.get(i)[1]));
            } else {
                Thread.sleep(1000);
            }
            checkAlive();
        }
        return faults;
    }

    private Fault inject(String kind, String target) throws Exception {
        ChildProcess p = processes.get(target);
        long t0 = System.nanoTime();
        boolean wentByItself = p.kill(kind.equals("sigterm"), Duration.ofSeconds(30));
        if (kind.equals("sigterm") && !wentByItself) log.accept(target + " did not stop within 30 s of SIGTERM");
        p.start();
        Duration ready = p.awaitReady(Duration.ofSeconds(180));
        require(ready, p);
        double seconds = (System.nanoTime() - t0) / 1e9;
        log.accept(String.format("%s %s: ready again after %.1f s", kind, target, seconds));
        return new Fault(kind, target, seconds);
    }

    /** A process that died without being killed counts, and is started again so the run goes on. */
    private void checkAlive() throws IOException {
        for (ChildProcess p : processes.values()) {
            if (!p.alive()) {
                unexpectedDeaths.merge(p.name(), 1, Integer::sum);
                log.accept(p.name() + " died by itself; starting it again (see " + p.log() + ")");
                p.start();
            }
        }
    }

    /**
     * Waits until every document has its verdict and every kept one is in shards (writing filler documents meanwhile,
     * so that the last partial shards are pushed out), then until the trainer has trained and checkpointed what is
     * there; the audit at that point.
     */
    private StreamAudit.Result drain(CorpusFeed feed, java.util.Set<String> ratings) throws Exception {
        KafkaSettings kafka = new KafkaSettings(bootstrap, "audit");
        Path trainAudit = settings.dir().resolve("train/checkpoints/millrace/audit");
        Path feedbackAudit = settings.dir().resolve("feedback/policies/millrace/audit");
        long deadline = System.nanoTime() + settings.drainTimeout().toNanos();
        StreamAudit.Result result;
        int fillers = 0;
        long lastPending = -1;
        int stable = 0;
        while (true) {
            List<String> corpusIds = feed.validIds().stream().filter(id -> id.startsWith(CORPUS + "-")).toList();
            result = StreamAudit.read(kafka).audit(corpusIds, feed.malformed(), CORPUS, trainAudit, BATCH, ratings,
                    feedbackAudit);
            boolean documentsDone = result.stages().get("ingest").lost() == 0 && result.stages().get("dedup").lost() == 0
                    && result.stages().get("tokenize").lost() == 0 && result.stages().get("ratings").lost() == 0
                    && result.stages().get("feedback").lost() == 0;
            if (documentsDone) {
                // training has caught up when fewer than a batch of rows wait, and nothing moved for two checks
                stable = result.trainRowsPending() == lastPending ? stable + 1 : 0;
                lastPending = result.trainRowsPending();
                if (result.trainRowsPending() < BATCH && stable >= 2) break;
            } else if (fillers < 40) {
                feed.writeFile(FILLER, 50, 0);
                fillers++;
            }
            if (System.nanoTime() > deadline) {
                log.accept("drain timed out: " + result.stages() + ", " + result.trainRowsPending() + " training rows pending");
                break;
            }
            checkAlive();
            Thread.sleep(3000);
        }
        return result;
    }

    /** The web role's rejections as its /metrics counts them: 4xx of every route. */
    private long webRejectionsCounted() throws Exception {
        return Math.round(millrace.metrics.Metrics.sum(scrape(httpPort), "millrace_web_requests_total", "status=\"4xx\""));
    }

    private long ingestRejectionsCounted() throws Exception {
        return Math.round(millrace.metrics.Metrics.sum(scrape(opsPorts.get("ingest")), "millrace_ingest_rejected_total", ""));
    }

    private static String scrape(int port) throws Exception {
        return METRICS.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    /**
     * Mutated files into the watched directory: bytes flipped, cut short, NULs, random binary, a gzip cut in half.
     * Returns {rejections on the topic from those files, rejections the ingest role counted meanwhile}.
     */
    private long[] fuzzIngest(CorpusFeed feed) throws Exception {
        long before = ingestRejectionsCounted();
        Path corpus = settings.dir().resolve("corpus-in");
        List<String> names = feed.writeMutated("fuzz", settings.fuzzFiles(), new Random(settings.seed() + 1));
        KafkaSettings kafka = new KafkaSettings(bootstrap, "audit");
        long onTopic = 0;
        long counted = 0;
        long deadline = System.nanoTime() + 60_000_000_000L;
        int stable = 0;
        while (System.nanoTime() < deadline && stable < 3) {
            Thread.sleep(2000);
            long[] n = {0};
            TopicReader.readAll(kafka, Topics.DOCS_REJECTED, r -> {
                Rejection x = JsonSerde.rejections().fromBytes(r.value());
                if (x.stage().equals("ingest") && names.stream().anyMatch(f -> x.source().contains(f))) n[0]++;
            });
            long c = ingestRejectionsCounted() - before;
            stable = n[0] == onTopic && c == counted ? stable + 1 : 0;
            onTopic = n[0];
            counted = c;
        }
        if (!corpus.toFile().isDirectory()) throw new IllegalStateException("the corpus directory is gone");
        return new long[] {onTopic, counted};
    }
}
