package millrace.ingest;

import static org.junit.jupiter.api.Assertions.*;

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
        try (Ingestor ingestor = new Ingestor(kafka.settings("it"), 1 << 20)) {
            summary = ingestor.ingest(List.of(dir.resolve("corpus")));
        }
        assertEquals(3, summary.documents());
        assertEquals(4, summary.rejected());

        List<Document> docs = kafka.read(Topics.DOCS, JsonSerde.documents()::fromBytes);
        assertEquals(List.of("a", "b", "z"), docs.stream().map(Document::title).sorted().toList());
        Map<String, RejectReason> rejected = kafka.read(Topics.DOCS_REJECTED, JsonSerde.rejections()::fromBytes)
                .stream().collect(Collectors.toMap(r -> Path.of(r.source()).getFileName().toString(), Rejection::reason));
        assertEquals(Map.of("latin1.txt", RejectReason.INVALID_UTF8, "zip.txt", RejectReason.BINARY,
                "empty.txt", RejectReason.EMPTY, "unreadable.txt", RejectReason.UNREADABLE), rejected);
    }
}
