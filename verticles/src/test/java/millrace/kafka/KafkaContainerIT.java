package millrace.kafka;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import millrace.dedup.DedupStageProbe;
import millrace.ingest.Ingestor;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import millrace.protocol.Topics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;

/** The same stages against Testcontainers' Kafka, where a Docker daemon is reachable (skipped elsewhere). */
@Testcontainers(disabledWithoutDocker = true)
class KafkaContainerIT {
    @Container
    static final KafkaContainer KAFKA = new KafkaContainer("apache/kafka:4.1.1");

    @TempDir
    Path dir;

    @Test
    void ingestAndDedupAgainstAContainerBroker() throws Exception {
        KafkaSettings settings = new KafkaSettings(KAFKA.getBootstrapServers(), "tc");
        TopicSetup.ensureTopics(settings, 2, (short) 1);
        Files.writeString(dir.resolve("a.txt"), "Blessed are the meek: for they shall inherit the earth.");
        Files.writeString(dir.resolve("b.txt"), "blessed are the meek: for they shall inherit the earth.");
        Files.writeString(dir.resolve("c.txt"), "Blessed are the merciful: for they shall obtain mercy.");
        try (Ingestor ingestor = new Ingestor(settings, millrace.ingest.Ingestor.Options.DEFAULT)) {
            assertEquals(3, ingestor.ingest(List.of(dir.toString())).documents());
        }
        List<Document> clean = new ArrayList<>();
        DedupStageProbe.runUntil(settings, () -> {
            clean.clear();
            TopicReader.readAll(settings, Topics.DOCS_CLEAN, r -> clean.add(JsonSerde.documents().fromBytes(r.value())));
            return clean.size() >= 2;
        });
        assertEquals(2, clean.size());
    }
}
