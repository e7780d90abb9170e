package millrace.monitoring;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.stream.Stream;
import millrace.ExternalTools;
import millrace.Platform;
import millrace.PlatformConfig;
import millrace.Role;
import millrace.kafka.TestKafka;
import millrace.model.Gpt2Config;
import millrace.protocol.JsonSerde;
import millrace.protocol.Topics;
import millrace.tokenizer.TokenizeSettings;
import millrace.train.TrainSettings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboards and alert rules against the real thing: Debian's Prometheus scrapes a running Millrace that has
 * processed a corpus, then every panel's PromQL must return at least one series, and the rules must load.
 */
class MonitoringIT {
    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newHttpClient();

    @Test
    void everyDashboardPanelHasDataAndTheAlertRulesLoad() throws Exception {
        Path prometheusBin = ExternalTools.require("prometheus", "apt-get install prometheus");
        Path promtool = ExternalTools.require("promtool", "apt-get install prometheus");
        Path monitoring = ExternalTools.repo().resolve("k8s/monitoring");
        Path rules = monitoring.resolve("prometheus/alerts.yaml");

        Process check = new ProcessBuilder(promtool.toString(), "check", "rules", rules.toString())
                .redirectErrorStream(true).start();
        String checkOutput = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, check.waitFor(), checkOutput);

        Path corpus = Files.createDirectories(dir.resolve("corpus"));
        for (String b : List.of("08-Ruth.txt", "32-Jonah.txt", "57-Philemon.txt", "65-Jude.txt", "31-Obadiah.txt",
                "36-Zephaniah.txt", "37-Haggai.txt", "34-Nahum.txt", "33-Micah.txt", "29-Joel.txt")) {
            Files.copy(ExternalTools.repo().resolve("corpus/kjv/" + b), corpus.resolve(b));
        }
        Files.write(corpus.resolve("binary.txt"), new byte[] {0, 1, 2, 3});

        try (TestKafka kafka = TestKafka.start(dir.resolve("kafka"), 2)) {
            TrainSettings demo = TrainSettings.tinyDemo("r50k_base", 50257, 32);
            TrainSettings train = new TrainSettings("millrace", Gpt2Config.tiny(50257, 32), "r50k_base", 8,
                    demo.schedule(), demo.clipNorm(), demo.adam(), demo.seed(), 2, 3, 5);
            PlatformConfig config = new PlatformConfig(kafka.settings("monitoring"), dir.resolve("data"),
                    millrace.ingest.IngestSettings.of(List.of(corpus.toString())), 2, 0, 0,
                    millrace.dedup.DedupSettings.DEFAULT, new TokenizeSettings("r50k_base", 32, 8, 0.3, 500), train, millrace.web.WebSettings.defaults("millrace"),
                    millrace.feedback.FeedbackSettings.defaults("millrace"));
            Platform platform = Platform.start(EnumSet.allOf(Role.class), config);
            Process prometheus = null;
            try {
                kafka.await(Topics.CHECKPOINTS, JsonSerde.checkpoints()::fromBytes,
                        l -> l.stream().anyMatch(c -> c.step() >= 10),
                        Duration.ofSeconds(180));

                int port = freePort();
                Path promConfig = dir.resolve("prometheus.yml");
                Files.writeString(promConfig, """
                        global:
                          scrape_interval: 1s
                          evaluation_interval: 1s
                        rule_files:
                          - %s
                        scrape_configs:
                          - job_name: millrace
                            static_configs:
                              - targets: ["127.0.0.1:%d"]
                        """.formatted(rules, platform.opsPort()));
                prometheus = new ProcessBuilder(prometheusBin.toString(), "--config.file=" + promConfig,
                        "--storage.tsdb.path=" + dir.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + port,
                        "--log.level=warn").redirectErrorStream(true).redirectOutput(dir.resolve("prometheus.log").toFile())
                        .start();
                String api = "http://127.0.0.1:" + port + "/api/v1/";
                awaitQuery(api, "count_over_time(up{job=\"millrace\"}[1m]) >= 10", Duration.ofSeconds(60));

                List<String> empty = new ArrayList<>();
                int panels = 0;
                try (Stream<Path> files = Files.list(monitoring.resolve("grafana/dashboards"))) {
                    for (Path file : files.filter(f -> f.toString().endsWith(".json")).sorted().toList()) {
                        JsonNode dashboard = JsonSerde.MAPPER.readTree(file.toFile());
                        for (JsonNode panel : dashboard.get("panels")) {
                            panels++;
                            for (JsonNode target : panel.get("targets")) {
                                String expr = target.get("expr").asText()
                                        .replace("$__rate_interval", "30s").replace("$__range", "5m");
                                JsonNode result = query(api, expr);
                                if (result.isEmpty()) {
                                    empty.add(file.getFileName() + " / " + panel.get("title").asText() + ": " + expr);
                                }
                            }
                        }
                    }
                }
                assertTrue(panels >= 30, "only " + panels + " panels found");
                assertEquals(List.of(), empty, "panels whose query returned no series");

                JsonNode groups = get(api + "rules").get("data").get("groups");
                int loaded = 0;
                for (JsonNode g : groups) {
                    for (JsonNode rule : g.get("rules")) {
                        assertEquals("ok", rule.get("health").asText(), rule.toString());
                        loaded++;
                    }
                }
                assertEquals(8, loaded);
            } finally {
                if (prometheus != null) {
                    prometheus.destroy();
                    prometheus.waitFor();
                }
                platform.close();
            }
        }
    }

    private JsonNode query(String api, String expr) throws Exception {
        JsonNode body = get(api + "query?query=" + URLEncoder.encode(expr, StandardCharsets.UTF_8));
        assertEquals("success", body.get("status").asText(), expr + ": " + body);
        return body.get("data").get("result");
    }

    private void awaitQuery(String api, String expr, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                if (!query(api, expr).isEmpty()) return;
            } catch (java.io.IOException notUpYet) {
                // Prometheus is still starting
            }
            if (System.nanoTime() > deadline) fail("Prometheus never got " + expr);
            Thread.sleep(500);
        }
    }

    private JsonNode get(String url) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).build(),
                HttpResponse.BodyHandlers.ofString());
        return JsonSerde.MAPPER.readTree(r.body());
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
