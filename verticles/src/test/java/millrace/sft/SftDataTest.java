package millrace.sft;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import millrace.protocol.ChatMessage;
import millrace.protocol.SftExample;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SftDataTest {
    @TempDir
    Path dir;

    @Test
    void readsTrlShapesAndNumbersEveryLineItSkips() throws Exception {
        Path file = dir.resolve("examples.jsonl");
        Files.writeString(file, String.join("\n",
                "{\"prompt\": \"Hi\", \"response\": \"Hello.\"}",
                "{\"prompt\": \"Hi\", \"completion\": \"Hello.\"}",
                "",
                "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"},"
                        + " {\"role\": \"assistant\", \"content\": \"Hello.\"}]}",
                "{\"prompt\": \"Hi\"",
                "[1, 2]",
                "{\"prompt\": \"Hi\", \"answer\": \"Hello.\"}",
                "{\"messages\": \"Hi\"}",
                "{\"messages\": [{\"role\": \"user\"}]}",
                "{\"prompt\": 3, \"response\": \"Hello.\"}",
                "{\"prompt\": \"last\", \"response\": \"ok\"}") + "\n");
        SftData.Read read = SftData.read(file);
        assertEquals(4, read.examples().size());
        assertEquals(List.of(5, 6, 7, 8, 9, 10), read.bad().stream().map(SftData.BadLine::line).toList());
        assertTrue(read.bad().get(0).reason().contains("malformed JSON"), read.bad().get(0).reason());
        assertTrue(read.bad().get(3).reason().contains("must be an array"), read.bad().get(3).reason());

        SftExample first = read.examples().get(0);
        assertEquals(List.of(new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello.")), first.messages());
        assertEquals("examples.jsonl:1", first.source());
        // the id is the turns': the same example in either shape is the same id
        assertEquals(first.id(), read.examples().get(1).id());
        assertEquals(first.id(), SftData.parse("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, "
                + "{\"role\": \"assistant\", \"content\": \"Hello.\"}]}", "elsewhere").id());
        assertNotEquals(first.id(), read.examples().get(2).id());
        assertEquals(3, read.examples().get(2).messages().size());
    }

    @Test
    void aLineThatIsNotUtf8OrTooLongIsReportedAndTheNextOneRead() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.writeBytes("{\"prompt\": \"a\", \"response\": \"b\"}\n".getBytes(StandardCharsets.UTF_8));
        bytes.writeBytes(new byte[] {'{', '"', 'p', (byte) 0xC3, (byte) 0x28, '"', '}', '\n'});
        bytes.writeBytes(("{\"prompt\": \"" + "x".repeat(SftData.MAX_LINE_BYTES) + "\", \"response\": \"y\"}\n").getBytes(StandardCharsets.UTF_8));
        bytes.writeBytes("{\"prompt\": \"c\", \"response\": \"d\"}".getBytes(StandardCharsets.UTF_8)); // no final newline
        Path file = dir.resolve("broken.jsonl");
        Files.write(file, bytes.toByteArray());
        SftData.Read read = SftData.read(file);
        assertEquals(List.of("a", "c"), read.examples().stream().map(e -> e.messages().get(0).content()).toList());
        assertEquals(List.of(new SftData.BadLine(2, "not UTF-8"), new SftData.BadLine(3, "longer than " + SftData.MAX_LINE_BYTES + " bytes")),
                read.bad());
    }
}
