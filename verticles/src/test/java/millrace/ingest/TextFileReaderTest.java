package millrace.ingest;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import millrace.protocol.RejectReason;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextFileReaderTest {
    @TempDir
    Path dir;

    private final TextFileReader reader = new TextFileReader(1000);

    private RejectReason refusal(Path p) {
        TextFileReader.Result r = reader.read(p);
        assertInstanceOf(TextFileReader.Refused.class, r, "expected a refusal for " + p);
        TextFileReader.Refused refused = (TextFileReader.Refused) r;
        assertEquals(p.toAbsolutePath().normalize().toString(), refused.rejection().source());
        assertEquals("ingest", refused.rejection().stage());
        return refused.rejection().reason();
    }

    @Test
    void readsUtf8TextAndMarkdown() throws Exception {
        Path txt = Files.writeString(dir.resolve("a.txt"), "\uFEFFHéllo — 世界 🌍\n");
        TextFileReader.Read read = (TextFileReader.Read) reader.read(txt);
        assertEquals("Héllo — 世界 🌍\n", read.document().text());
        assertEquals("text/plain", read.document().contentType());
        assertEquals("a", read.document().title());
        Path md = Files.writeString(dir.resolve("b.md"), "# Title\n\nBody");
        assertEquals("text/markdown", ((TextFileReader.Read) reader.read(md)).document().contentType());
    }

    @Test
    void idsAreDeterministicBySourceAndContent() throws Exception {
        Path a = Files.writeString(dir.resolve("a.txt"), "same");
        Path b = Files.writeString(dir.resolve("b.txt"), "same");
        String id1 = ((TextFileReader.Read) reader.read(a)).document().id();
        assertEquals(id1, ((TextFileReader.Read) reader.read(a)).document().id());
        assertNotEquals(id1, ((TextFileReader.Read) reader.read(b)).document().id());
        Files.writeString(a, "changed");
        assertNotEquals(id1, ((TextFileReader.Read) reader.read(a)).document().id());
    }

    @Test
    void invalidUtf8NamesTheByte() throws Exception {
        byte[] bytes = "abc".getBytes(StandardCharsets.UTF_8);
        Path p = Files.write(dir.resolve("bad.txt"), new byte[] {bytes[0], bytes[1], (byte) 0xC3, (byte) 0x28, 'x'});
        TextFileReader.Refused r = (TextFileReader.Refused) reader.read(p);
        assertEquals(RejectReason.INVALID_UTF8, r.rejection().reason());
        assertTrue(r.rejection().detail().contains("byte 2"), r.rejection().detail());
    }

    @Test
    void loneSurrogateEncodedAsUtf8IsInvalid() throws Exception {
        Path p = Files.write(dir.resolve("cesu.txt"), new byte[] {'a', (byte) 0xED, (byte) 0xA0, (byte) 0x80});
        assertEquals(RejectReason.INVALID_UTF8, refusal(p));
    }

    @Test
    void binaryEmptyTooLargeAndUnreadable() throws Exception {
        assertEquals(RejectReason.BINARY, refusal(Files.write(dir.resolve("x.txt"), new byte[] {'P', 'K', 3, 4, 0, 0})));
        assertEquals(RejectReason.EMPTY, refusal(Files.writeString(dir.resolve("e.txt"), "")));
        assertEquals(RejectReason.EMPTY, refusal(Files.writeString(dir.resolve("w.txt"), " \n\t\n")));
        assertEquals(RejectReason.TOO_LARGE, refusal(Files.writeString(dir.resolve("big.txt"), "x".repeat(1001))));
        Path dangling = Files.createSymbolicLink(dir.resolve("gone.txt"), dir.resolve("missing"));
        assertEquals(RejectReason.UNREADABLE, refusal(dangling));
        Path directory = Files.createDirectory(dir.resolve("dir.txt"));
        assertEquals(RejectReason.UNREADABLE, refusal(directory));
    }
}
