package millrace.dedup;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TestKafka;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;
import millrace.protocol.Topics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The dedup stage against a real broker, including a restart that must rebuild its index from the clean topic. */
class DedupIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(3);

    private static void produce(KafkaSettings settings, List<Document> docs) {
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(settings.producer("test"))) {
            for (Document d : docs) p.send(new ProducerRecord<>(Topics.DOCS, 0, d.id(), JsonSerde.documents().toBytes(d)));
            // one partition: "first seen" is then the order written here
            p.send(new ProducerRecord<>(Topics.DOCS, 0, "garbage", "{not json".getBytes(StandardCharsets.UTF_8)));
        }
    }

    private static Document doc(String id, String text) {
        return new Document(id, id + ".txt", id, text, "text/plain", null, 1, Map.of(), null);
    }

    private static void runUntil(DedupVerticle.DedupWorker worker, int clean, int rejected) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (kafka.records(Topics.DOCS_CLEAN).size() < clean || kafka.records(Topics.DOCS_REJECTED).size() < rejected) {
            if (System.nanoTime() > deadline) fail("dedup did not catch up");
            worker.step();
        }
    }

    @Test
    void duplicatesAreRejectedWithTheKeptDocumentAcrossARestart() throws Exception {
        KafkaSettings settings = kafka.settings("dedup-it");
        produce(settings, List.of(doc("a", "Jesus wept."), doc("b", "JESUS   wept."), doc("c", "Remember Lot's wife.")));
        try (DedupVerticle.DedupWorker worker = new DedupVerticle.DedupWorker(settings)) {
            runUntil(worker, 2, 2);
        }
        // a new incarnation: the index comes back from millrace.docs.clean
        produce(settings, List.of(doc("d", "remember lot's wife."), doc("a", "Jesus wept."), doc("e", "Pray without ceasing.")));
        try (DedupVerticle.DedupWorker worker = new DedupVerticle.DedupWorker(settings)) {
            runUntil(worker, 3, 4);
            for (int i = 0; i < 10; i++) worker.step();
        }

        List<Document> clean = kafka.read(Topics.DOCS_CLEAN, JsonSerde.documents()::fromBytes);
        assertEquals(List.of("a", "c", "e"), clean.stream().map(Document::id).sorted().toList());
        assertTrue(clean.stream().allMatch(d -> d.quality() != null && d.quality().textHash().length() == 64));
        List<Rejection> rejected = kafka.read(Topics.DOCS_REJECTED, JsonSerde.rejections()::fromBytes);
        assertEquals(4, rejected.size(), rejected.toString());
        Rejection b = rejected.stream().filter(r -> r.docId().equals("b")).findFirst().orElseThrow();
        assertEquals(RejectReason.EXACT_DUPLICATE, b.reason());
        assertEquals("a.txt", b.duplicateOf());
        Rejection d = rejected.stream().filter(r -> r.docId().equals("d")).findFirst().orElseThrow();
        assertEquals("c.txt", d.duplicateOf());
        assertEquals(2, rejected.stream().filter(r -> r.reason() == RejectReason.MALFORMED).count());
    }
}
