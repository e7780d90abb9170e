package millrace.kafka;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import millrace.protocol.Topics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedKafkaTest {
    @TempDir
    Path dir;

    @Test
    void aSecondBrokerOnTheSameDataIsRefused() {
        Path data = dir.resolve("shared");
        try (TestKafka first = TestKafka.start(data, 1)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> new EmbeddedKafka(data, 0).start());
            assertTrue(e.getMessage().contains("in use by another running broker"), e.getMessage());
            assertEquals(0, first.records(Topics.DOCS).size()); // and the first one still answers
        }
    }

    @Test
    void restartOnTheSameDataKeepsEveryRecord() throws Exception {
        Path data = dir.resolve("kafka");
        try (TestKafka kafka = TestKafka.start(data, 3)) {
            try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.settings("t").producer("test"))) {
                for (int i = 0; i < 500; i++) {
                    p.send(new ProducerRecord<>(Topics.DOCS, "k" + i, ("v" + i).getBytes(StandardCharsets.UTF_8)));
                }
                p.flush();
            }
            assertEquals(500, kafka.records(Topics.DOCS).size());
        }
        String metaBefore = Files.readString(data.resolve("meta.properties"));

        // second start: storage is not formatted again and every record is still there
        try (TestKafka kafka = TestKafka.start(data, 3)) {
            assertEquals(metaBefore, Files.readString(data.resolve("meta.properties")));
            Set<String> values = kafka.records(Topics.DOCS).stream()
                    .map(r -> new String(r.value(), StandardCharsets.UTF_8)).collect(Collectors.toSet());
            assertEquals(500, values.size());
            assertTrue(values.containsAll(List.of("v0", "v499")));
            // the topics created before the restart are still there, with their partitions
            assertEquals(3, kafka.records(Topics.DOCS).stream().map(r -> r.partition()).distinct().count());
        }
    }
}
