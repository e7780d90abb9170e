package millrace.ingest;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import millrace.kafka.TestKafka;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;
import millrace.protocol.Topics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The ingest stage against a real broker: good files become documents, bad ones rejections, none stop the run. */
class IngestorIT {
    @TempDir
    static Path dir;

    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(2);

    @Test
    void badInputIsReportedWithPathAndReasonAndDoesNotStopIngestion() throws Exception {
        Path corpus = Files.createDirectories(dir.resolve("corpus/nested"));
        Files.writeString(corpus.resolve("../a.txt"), "In the beginning God created the heaven and the earth.");
        Files.writeString(corpus.resolve("b.md"), "# Psalm 23\n\nThe LORD is my shepherd; I shall not want.");
        Files.write(corpus.resolve("../latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xE9});
        Files.write(corpus.resolve("zip.txt"), new byte[] {'P', 'K', 3, 4, 0, 0, 0, 1});
        Files.writeString(corpus.resolve("empty.txt"), "");
        Files.createSymbolicLink(corpus.resolve("unreadable.txt"), corpus.resolve("does-not-exist"));
        Files.writeString(corpus.resolve("z.txt"), "Last file, after all the bad ones.");
        Files.writeString(corpus.resolve("ignored.bin"), "not a text file by name");

        Ingestor.Summary summary;
        try (Ingestor ingestor = new Ingestor(kafka.settings("it"), Ingestor.Options.DEFAULT)) {
            summary = ingestor.ingest(List.of(dir.resolve("corpus").toString()));
        }
        assertEquals(3, summary.documents());
        assertEquals(4, summary.rejected());

        List<Document> docs = kafka.read(Topics.DOCS, JsonSerde.documents()::fromBytes).stream()
                .filter(d -> d.source().contains("corpus")).toList();
        assertEquals(List.of("a", "b", "z"), docs.stream().map(Document::title).sorted().toList());
        Map<String, RejectReason> rejected = kafka.read(Topics.DOCS_REJECTED, JsonSerde.rejections()::fromBytes)
                .stream().filter(r -> r.source().contains("corpus")).collect(Collectors.toMap(r -> Path.of(r.source()).getFileName().toString(), Rejection::reason));
        assertEquals(Map.of("latin1.txt", RejectReason.INVALID_UTF8, "zip.txt", RejectReason.BINARY,
                "empty.txt", RejectReason.EMPTY, "unreadable.txt", RejectReason.UNREADABLE), rejected);
    }

    /** Every format, a URL, and a second pass over the same inputs: the same ids, so nothing new downstream. */
    @Test
    void everyReaderAndAUrlWriteToTheBrokerAndReingestingGivesTheSameIds() throws Exception {
        Path root = Files.createDirectories(dir.resolve("formats"));
        Files.writeString(root.resolve("psalm.md"), "# Psalm 23\n\nThe LORD is my shepherd; I shall not want.");
        Files.writeString(root.resolve("page.html"), "<html><body><nav>menu</nav><article><p>Blessed are the meek.</p></article></body></html>");
        Files.writeString(root.resolve("records.jsonl"), "{\"text\": \"one\"}\n{broken\n{\"text\": \"two\"}\n");
        ReadersTest.writeWarc(root.resolve("crawl.warc.gz"), org.netpreserve.jwarc.WarcCompression.GZIP);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/page", exchange -> {
            byte[] body = "<html><head><title>Served</title></head><body><main><p>Served over HTTP.</p></main></body></html>"
                    .getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "text/html; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
        String base = "http://127.0.0.1:" + server.getAddress().getPort();
        List<String> inputs = List.of(root.toString(), base + "/page", base + "/missing");
        List<Ingestor.Summary> passes = new java.util.ArrayList<>();
        try (Ingestor ingestor = new Ingestor(kafka.settings("formats"), new Ingestor.Options(
                millrace.ingest.Readers.Settings.DEFAULT, List.of(), List.of(), 2))) { // 2 in flight: back-pressure works
            passes.add(ingestor.ingest(inputs));
            passes.add(ingestor.ingest(inputs));
        } finally {
            server.stop(0);
        }
        // md, html, 2 JSON lines, 2 WARC responses, the URL; rejected: 1 JSON line, 2 WARC responses, the 404
        assertEquals(new Ingestor.Summary(7, 4, passes.get(0).bytes()), passes.get(0));
        assertEquals(passes.get(0), passes.get(1));
        List<Document> docs = kafka.read(Topics.DOCS, JsonSerde.documents()::fromBytes).stream()
                .filter(d -> d.source().contains("formats") || d.source().startsWith("http")).toList();
        assertEquals(14, docs.size());
        Map<String, Long> perId = docs.stream().collect(Collectors.groupingBy(Document::id, Collectors.counting()));
        assertEquals(7, perId.size(), "the second pass gives the same 7 ids");
        assertTrue(docs.stream().anyMatch(d -> d.text().equals("Served over HTTP.") && d.title().equals("Served")));
        assertTrue(docs.stream().anyMatch(d -> d.text().equals("Blessed are the meek.")));
        List<Rejection> rejected = kafka.read(Topics.DOCS_REJECTED, JsonSerde.rejections()::fromBytes);
        assertTrue(rejected.stream().anyMatch(r -> r.reason() == RejectReason.MALFORMED_JSON && r.detail().startsWith("line 2:")));
        assertTrue(rejected.stream().anyMatch(r -> r.reason() == RejectReason.UNREADABLE && r.detail().equals("HTTP 404")));
    }

    /** Watch mode picks up a file written while it runs, once. */
    @Test
    void watchModeIngestsNewFiles() throws Exception {
        Path watched = Files.createDirectories(dir.resolve("watched"));
        Files.writeString(watched.resolve("first.txt"), "Here at the start.");
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        Thread t = new Thread(() -> {
            try (Ingestor ingestor = new Ingestor(kafka.settings("watch"), Ingestor.Options.DEFAULT)) {
                ingestor.watch(List.of(watched.toString()), java.time.Duration.ofMillis(200), stop::get);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        t.start();
        try {
            kafka.await(Topics.DOCS, JsonSerde.documents()::fromBytes,
                    l -> l.stream().anyMatch(d -> d.text().equals("Here at the start.")), java.time.Duration.ofSeconds(30));
            Files.writeString(watched.resolve("later.txt"), "Written while watching.");
            kafka.await(Topics.DOCS, JsonSerde.documents()::fromBytes,
                    l -> l.stream().anyMatch(d -> d.text().equals("Written while watching.")), java.time.Duration.ofSeconds(30));
            Thread.sleep(1000); // more passes: nothing is ingested twice
        } finally {
            stop.set(true);
            t.join(10_000);
        }
        List<Document> docs = kafka.read(Topics.DOCS, JsonSerde.documents()::fromBytes).stream()
                .filter(d -> d.source().contains("watched")).toList();
        assertEquals(2, docs.size(), docs.toString());
    }
}
