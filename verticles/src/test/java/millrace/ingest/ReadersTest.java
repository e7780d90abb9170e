package millrace.ingest;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import millrace.protocol.Document;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.netpreserve.jwarc.HttpResponse;
import org.netpreserve.jwarc.MediaType;
import org.netpreserve.jwarc.WarcCompression;
import org.netpreserve.jwarc.WarcRequest;
import org.netpreserve.jwarc.WarcResponse;
import org.netpreserve.jwarc.WarcWriter;

/** Every reader on good and bad input, without Kafka: what becomes a document, what a rejection, and why. */
class ReadersTest {
    @TempDir
    Path dir;

    private final Readers readers = new Readers(new Readers.Settings(4000, "text", "id"));

    private List<ReadResult> read(Path p) {
        List<ReadResult> out = new ArrayList<>();
        for (InputScanner.Found f : new InputScanner(List.of(), List.of(), 4000).files(p, out::add)) {
            readers.read(f.input(), out::add);
        }
        return out;
    }

    private Document doc(Path p) {
        List<ReadResult> r = read(p);
        assertEquals(1, r.size(), r.toString());
        return assertInstanceOf(ReadResult.Read.class, r.get(0), r.toString()).document();
    }

    private Rejection refusal(Path p) {
        List<ReadResult> r = read(p);
        assertEquals(1, r.size(), r.toString());
        Rejection rej = assertInstanceOf(ReadResult.Refused.class, r.get(0), r.toString()).rejection();
        assertEquals("ingest", rej.stage());
        return rej;
    }

    private static List<Document> docs(List<ReadResult> results) {
        return results.stream().filter(r -> r instanceof ReadResult.Read).map(r -> ((ReadResult.Read) r).document()).toList();
    }

    private static List<Rejection> rejections(List<ReadResult> results) {
        return results.stream().filter(r -> r instanceof ReadResult.Refused).map(r -> ((ReadResult.Refused) r).rejection()).toList();
    }

    private static byte[] gzip(byte[] bytes) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (OutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        }
        return out.toByteArray();
    }

    @Test
    void textAndMarkdownStrictUtf8() throws Exception {
        Document d = doc(Files.writeString(dir.resolve("a.txt"), "\uFEFFHéllo — 世界 🌍\n"));
        assertEquals("Héllo — 世界 🌍\n", d.text());
        assertEquals("text/plain", d.contentType());
        assertEquals("a", d.title());
        assertEquals("text/markdown", doc(Files.writeString(dir.resolve("b.md"), "# Title\n\nBody")).contentType());
        assertEquals("gzipped text", doc(Files.write(dir.resolve("c.txt.gz"), gzip("gzipped text".getBytes()))).text());
    }

    @Test
    void idsHashTheRelativeSourceAndTheText() throws Exception {
        Path a = Files.writeString(Files.createDirectories(dir.resolve("one/corpus")).resolve("a.txt"), "same");
        Path b = Files.writeString(dir.resolve("one/corpus/b.txt"), "same");
        String id = doc(a).id();
        assertEquals(id, doc(a).id());
        assertNotEquals(id, doc(b).id());
        // the same corpus in another directory: same ids (so the same train/validation split)
        Path elsewhere = Files.createDirectories(dir.resolve("two/corpus"));
        Files.writeString(elsewhere.resolve("a.txt"), "same");
        String viaDirA = docs(read(dir.resolve("one/corpus"))).get(0).id();
        String viaDirB = docs(read(elsewhere)).get(0).id();
        assertEquals(viaDirA, viaDirB);
        Files.writeString(a, "changed");
        assertNotEquals(id, doc(a).id());
    }

    @Test
    void badTextIsRefusedWithAReason() throws Exception {
        Rejection utf8 = refusal(Files.write(dir.resolve("bad.txt"), new byte[] {'a', 'b', (byte) 0xC3, (byte) 0x28, 'x'}));
        assertEquals(RejectReason.INVALID_UTF8, utf8.reason());
        assertTrue(utf8.detail().contains("byte 2"), utf8.detail());
        assertEquals(RejectReason.INVALID_UTF8,
                refusal(Files.write(dir.resolve("cesu.txt"), new byte[] {'a', (byte) 0xED, (byte) 0xA0, (byte) 0x80})).reason());
        assertEquals(RejectReason.BINARY, refusal(Files.write(dir.resolve("x.txt"), new byte[] {'P', 'K', 3, 4, 0, 0})).reason());
        assertEquals(RejectReason.EMPTY, refusal(Files.writeString(dir.resolve("e.txt"), "")).reason());
        assertEquals(RejectReason.EMPTY, refusal(Files.writeString(dir.resolve("w.txt"), " \n\t\n")).reason());
        assertEquals(RejectReason.TOO_LARGE, refusal(Files.writeString(dir.resolve("big.txt"), "x".repeat(4001))).reason());
        assertEquals(RejectReason.UNREADABLE,
                refusal(Files.createSymbolicLink(dir.resolve("gone.txt"), dir.resolve("missing"))).reason());
        byte[] gz = gzip("a whole sentence of text".getBytes());
        assertEquals(RejectReason.TRUNCATED,
                refusal(Files.write(dir.resolve("cut.txt.gz"), Arrays.copyOf(gz, gz.length - 6))).reason());
        assertEquals(RejectReason.UNSUPPORTED, refusal(Files.writeString(dir.resolve("notes.pdf"), "%PDF")).reason());
    }

    @Test
    void htmlKeepsTheMainContentOnly() throws Exception {
        Document d = doc(Files.writeString(dir.resolve("page.html"), """
                <html><head><title>The Sower</title><style>p { color: red }</style>
                <script>var tracking = 1;</script></head><body>
                <div class="navbar"><a href="/">Home</a> <a href="/about">About</a></div>
                <nav><ul><li><a href="/a">Chapter 1</a></li><li><a href="/b">Chapter 2</a></li></ul></nav>
                <div id="content"><h1>The parable of the sower</h1>
                <p>A sower went out to sow his seed: and as he sowed, some fell by the way side.</p>
                <pre>  indented   code
                stays</pre>
                <p>And some fell upon a rock; and as soon as it was sprung up, it withered away.</p></div>
                <div class="sidebar"><p>Related: the mustard seed</p></div>
                <footer>Copyright 2026. Privacy policy.</footer>
                </body></html>"""));
        assertEquals("The Sower", d.title());
        assertEquals("text/html", d.contentType());
        assertEquals("""
                The parable of the sower

                A sower went out to sow his seed: and as he sowed, some fell by the way side.

                  indented   code
                stays

                And some fell upon a rock; and as soon as it was sprung up, it withered away.""", d.text());
    }

    @Test
    void jsonLinesStreamWithLineNumbersForBadLines() throws Exception {
        String lines = String.join("\n",
                "{\"id\": \"r1\", \"text\": \"first record\", \"url\": \"https://example.org/1\"}",
                "",
                "{\"text\": \"second record, no id\"}",
                "{not json",
                "{\"content\": \"wrong field\"}",
                "[1, 2]",
                "{\"text\": \"   \"}",
                "{\"text\": \"" + "y".repeat(5000) + "\"}",
                "{\"text\": \"last record\"}") + "\n";
        List<ReadResult> r = read(Files.writeString(dir.resolve("data.jsonl"), lines));
        assertEquals(List.of("first record", "second record, no id", "last record"), docs(r).stream().map(Document::text).toList());
        assertEquals("https://example.org/1", docs(r).get(0).metadata().get("url"));
        assertTrue(docs(r).get(1).source().endsWith("data.jsonl:3"), docs(r).get(1).source());
        List<Rejection> bad = rejections(r);
        assertEquals(List.of(RejectReason.MALFORMED_JSON, RejectReason.MALFORMED_JSON, RejectReason.MALFORMED_JSON,
                RejectReason.EMPTY, RejectReason.TOO_LARGE), bad.stream().map(Rejection::reason).toList());
        assertTrue(bad.get(0).detail().startsWith("line 4:"), bad.get(0).detail());
        assertTrue(bad.get(1).detail().contains("no string field \"text\""), bad.get(1).detail());
        assertTrue(bad.get(4).detail().contains("line 8"), bad.get(4).detail());
        // a custom text field
        List<ReadResult> custom = new ArrayList<>();
        Path c = Files.writeString(dir.resolve("c.jsonl"), "{\"content\": \"in content\"}\n");
        new Readers(new Readers.Settings(4000, "content", "id")).read(
                new InputScanner(List.of(), List.of(), 4000).files(c, custom::add).get(0).input(), custom::add);
        assertEquals("in content", docs(custom).get(0).text());
    }

    @Test
    void gzippedJsonLinesAndATruncatedStream() throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 500; i++) sb.append("{\"text\": \"record number ").append(i).append(" with some words\"}\n");
        byte[] gz = gzip(sb.toString().getBytes(StandardCharsets.UTF_8));
        assertEquals(500, docs(read(Files.write(dir.resolve("all.jsonl.gz"), gz))).size());
        List<ReadResult> cut = read(Files.write(dir.resolve("cut.jsonl.gz"), Arrays.copyOf(gz, gz.length / 2)));
        List<Rejection> rej = rejections(cut);
        assertEquals(1, rej.size(), rej.toString());
        assertEquals(RejectReason.TRUNCATED, rej.get(0).reason());
        assertTrue(rej.get(0).detail().contains("after line " + docs(cut).size()), rej.get(0).detail());
        assertTrue(docs(cut).size() > 0 && docs(cut).size() < 500);
    }

    static void writeWarc(Path file, WarcCompression compression) throws Exception {
        try (WarcWriter w = new WarcWriter(Files.newByteChannel(file, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE), compression)) {
            w.write(new WarcRequest.Builder(URI.create("https://example.org/sower")).body(MediaType.HTTP_REQUEST,
                    "GET /sower HTTP/1.1\r\nHost: example.org\r\n\r\n".getBytes()).build());
            w.write(response("https://example.org/sower", 200, "text/html; charset=utf-8",
                    "<html><head><title>Sower</title></head><body><nav><a href='/'>Home</a></nav>"
                            + "<main><p>A sower went out to sow his seed.</p></main></body></html>"));
            w.write(response("https://example.org/robots.txt", 200, "text/plain", "User-agent: *"));
            w.write(response("https://example.org/logo.png", 200, "image/png", "\u0089PNG"));
            w.write(response("https://example.org/missing", 404, "text/html", "<p>not found</p>"));
        }
    }

    private static WarcResponse response(String url, int status, String type, String body) throws Exception {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        HttpResponse http = new HttpResponse.Builder(status, status == 200 ? "OK" : "Not Found")
                .body(MediaType.parse(type), bytes).build();
        return new WarcResponse.Builder(URI.create(url)).body(http).build();
    }

    @Test
    void warcResponsesGoThroughTheHtmlExtractor() throws Exception {
        for (WarcCompression compression : WarcCompression.values()) {
            if (compression.name().equals("ZSTD")) continue;
            Path file = dir.resolve(compression == WarcCompression.GZIP ? "crawl.warc.gz" : "crawl.warc");
            writeWarc(file, compression);
            List<ReadResult> r = read(file);
            List<Document> d = docs(r);
            assertEquals(2, d.size(), r.toString());
            assertEquals("https://example.org/sower", d.get(0).source());
            assertEquals("A sower went out to sow his seed.", d.get(0).text());
            assertEquals("Sower", d.get(0).title());
            assertEquals("User-agent: *", d.get(1).text());
            assertEquals(List.of(RejectReason.UNSUPPORTED, RejectReason.UNSUPPORTED),
                    rejections(r).stream().map(Rejection::reason).toList());
        }
        byte[] whole = Files.readAllBytes(dir.resolve("crawl.warc"));
        List<ReadResult> cut = read(Files.write(dir.resolve("cut.warc"), Arrays.copyOf(whole, whole.length * 2 / 5)));
        assertEquals(RejectReason.TRUNCATED, rejections(cut).get(rejections(cut).size() - 1).reason(), cut.toString());
    }

    @Test
    void globsChooseFilesInDirectories() throws Exception {
        Path root = Files.createDirectories(dir.resolve("site/sub"));
        Files.writeString(root.resolve("a.txt"), "a");
        Files.writeString(root.resolve("b.html"), "<p>b</p>");
        Files.writeString(root.resolve("skip.txt"), "c");
        Files.writeString(dir.resolve("site/image.png"), "png");
        List<String> names = new InputScanner(List.of("*.txt", "**/*.html"), List.of("skip*"), 4000)
                .files(dir.resolve("site"), r -> fail()).stream().map(f -> f.input().idKey()).toList();
        assertEquals(List.of("site/sub/a.txt", "site/sub/b.html"), names);
        List<String> defaults = new InputScanner(List.of(), List.of(), 4000).files(dir.resolve("site"), r -> fail())
                .stream().map(f -> f.input().idKey()).toList();
        assertEquals(List.of("site/sub/a.txt", "site/sub/b.html", "site/sub/skip.txt"), defaults);
    }
}
