package millrace.dedup;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BooleanSupplier;
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

/**
 * The dedup stage against a real broker: exact and near duplicates, filters, a restart that rebuilds the index from
 * the claim log, and two replicas that together catch every near-duplicate pair.
 */
class DedupIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(3);

    private static void produce(KafkaSettings settings, List<Document> docs, Integer partition) {
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(settings.producer("test"))) {
            for (Document d : docs) p.send(new ProducerRecord<>(Topics.DOCS, partition, d.id(), JsonSerde.documents().toBytes(d)));
        }
    }

    static Document doc(String id, String text) {
        return new Document(id, id + ".txt", id, text, "text/plain", null, 1, Map.of(), null);
    }

    /** About {@code words} words of a KJV book, starting at a verse. */
    static String kjv(String book, int words) throws Exception {
        String[] all = Files.readString(Path.of("../corpus/kjv", book)).split("\\s+");
        return String.join(" ", java.util.Arrays.copyOfRange(all, 0, Math.min(words, all.length)));
    }

    /** The text with {@code n} words replaced: a near duplicate (word 5-gram Jaccard about 1 - 10n/length). */
    static String edit(String text, int n, long seed) {
        String[] w = text.split(" ");
        Random r = new Random(seed);
        for (int i = 0; i < n; i++) w[r.nextInt(w.length)] = "edited" + r.nextInt(1000);
        return String.join(" ", w);
    }

    private static List<Rejection> rejected() {
        return kafka.read(Topics.DOCS_REJECTED, JsonSerde.rejections()::fromBytes);
    }

    private static List<Document> clean() {
        return kafka.read(Topics.DOCS_CLEAN, JsonSerde.documents()::fromBytes);
    }

    private static void stepUntil(BooleanSupplier done, DedupVerticle.DedupWorker... workers) {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) fail("dedup did not get there");
            for (DedupVerticle.DedupWorker w : workers) w.step();
        }
    }

    @Test
    void exactAndNearDuplicatesAcrossARestartRebuiltFromTheClaimLog() throws Exception {
        KafkaSettings settings = kafka.settings("dedup-it");
        String ruth = kjv("08-Ruth.txt", 300);
        String jonah = kjv("32-Jonah.txt", 300);
        produce(settings, List.of(doc("a", ruth), doc("b", ruth.toUpperCase().replace(" ", "  ")),
                doc("c", jonah), doc("d", edit(jonah, 3, 1))), 0);
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(settings.producer("test"))) {
            p.send(new ProducerRecord<>(Topics.DOCS, 0, "garbage", "{not json".getBytes(StandardCharsets.UTF_8)));
        }
        try (DedupVerticle.DedupWorker worker = new DedupVerticle.DedupWorker(settings, DedupSettings.NO_FILTERS)) {
            stepUntil(() -> clean().size() >= 2 && rejected().size() >= 3, worker);
        }
        // a new incarnation: the index comes back from the claim log, not from the clean topic
        produce(settings, List.of(doc("e", edit(jonah, 2, 2)), doc("a", ruth), doc("f", kjv("57-Philemon.txt", 300))), 0);
        try (DedupVerticle.DedupWorker worker = new DedupVerticle.DedupWorker(settings, DedupSettings.NO_FILTERS)) {
            assertEquals(2, worker.index().keptCount(), "rebuilt from the claims");
            stepUntil(() -> clean().size() >= 3 && rejected().size() >= 4, worker);
            for (int i = 0; i < 10; i++) worker.step();
        }
        assertEquals(List.of("a", "c", "f"), clean().stream().map(Document::id).sorted().toList());
        assertTrue(clean().stream().allMatch(d -> d.quality() != null && d.quality().textHash().length() == 64));
        Map<String, Rejection> byId = new HashMap<>();
        for (Rejection r : rejected()) byId.put(r.docId(), r);
        assertEquals(4, rejected().size(), rejected().toString());
        assertEquals(RejectReason.EXACT_DUPLICATE, byId.get("b").reason());
        assertEquals("a.txt", byId.get("b").duplicateOf());
        assertEquals(RejectReason.NEAR_DUPLICATE, byId.get("d").reason());
        assertEquals("c.txt", byId.get("d").duplicateOf());
        assertTrue(byId.get("d").detail().contains("estimated Jaccard"), byId.get("d").detail());
        assertEquals(RejectReason.NEAR_DUPLICATE, byId.get("e").reason(), "caught after the restart");
        assertEquals("c.txt", byId.get("e").duplicateOf());
        assertEquals(RejectReason.MALFORMED, byId.get("garbage").reason());
    }

    @Test
    void twoReplicasCatchEveryPairOneReplicaWould() throws Exception {
        KafkaSettings one = kafka.settings("replica-1");
        KafkaSettings two = kafka.settings("replica-2");
        String[] books = {"01-Genesis.txt", "02-Exodus.txt", "05-Deuteronomy.txt", "06-Joshua.txt", "07-Judges.txt",
            "09-1Samuel.txt", "18-Job.txt", "19-Psalms.txt", "20-Proverbs.txt", "23-Isaiah.txt", "40-Matthew.txt", "44-Acts.txt"};
        List<Document> docs = new ArrayList<>();
        Map<String, String> groupOf = new HashMap<>();
        for (int g = 0; g < books.length; g++) {
            String original = kjv(books[g], 400);
            for (int v = 0; v < 3; v++) {
                String id = "g" + g + "v" + v;
                docs.add(doc(id, v == 0 ? original : edit(original, 3, g * 10L + v)));
                groupOf.put(id + ".txt", "g" + g);
            }
        }
        Collections.shuffle(docs, new Random(7));
        try (DedupVerticle.DedupWorker a = new DedupVerticle.DedupWorker(one, DedupSettings.NO_FILTERS);
             DedupVerticle.DedupWorker b = new DedupVerticle.DedupWorker(two, DedupSettings.NO_FILTERS)) {
            int before = clean().size() + rejected().size();
            stepUntil(() -> a.assignedPartitions() > 0 && b.assignedPartitions() > 0
                    && a.assignedPartitions() + b.assignedPartitions() == kafka.partitions(), a, b);
            for (int i = 0; i < docs.size(); i++) produce(one, List.of(docs.get(i)), i % kafka.partitions());
            stepUntil(() -> clean().size() + rejected().size() >= before + docs.size(), a, b);
            assertTrue(a.handled > 0 && b.handled > 0, "both replicas judged documents: " + a.handled + ", " + b.handled);
        }
        List<Document> kept = clean().stream().filter(d -> d.id().matches("g\\d+v\\d")).toList();
        List<Rejection> dups = rejected().stream().filter(r -> r.docId().matches("g\\d+v\\d")).toList();
        assertEquals(books.length, kept.size(), "one document kept per group: " + kept.stream().map(Document::id).toList());
        assertEquals(2 * books.length, dups.size(), dups.stream().map(r -> r.docId() + " " + r.detail()).sorted().toList().toString());
        for (Rejection r : dups) {
            assertEquals(RejectReason.NEAR_DUPLICATE, r.reason(), r.toString());
            assertEquals(groupOf.get(r.source()), groupOf.get(r.duplicateOf()), r.toString());
            assertTrue(kept.stream().anyMatch(d -> d.source().equals(r.duplicateOf())), "duplicate of a kept document");
        }
    }

    @Test
    void filtersRejectWithTheirReasonAndCleanTextIsRedacted() throws Exception {
        KafkaSettings settings = kafka.settings("filters-it");
        String good = kjv("31-Obadiah.txt", 250) + " Write to peter.smith@example.net or visit 8.8.8.8 for more.";
        String german = "Im Anfang schuf Gott Himmel und Erde. Und die Erde war wüst und leer, und es war finster auf "
                + "der Tiefe; und der Geist Gottes schwebte auf dem Wasser. Und Gott sprach: Es werde Licht! und es "
                + "ward Licht. Und Gott sah, dass das Licht gut war. Da schied Gott das Licht von der Finsternis und "
                + "nannte das Licht Tag und die Finsternis Nacht. Da ward aus Abend und Morgen der erste Tag.";
        String repetitive = "Buy cheap watches online today.\n".repeat(40) + kjv("65-Jude.txt", 80);
        String lorem = "Lorem ipsum dolor sit amet. " + kjv("36-Zephaniah.txt", 200);
        produce(settings, List.of(doc("f-good", good), doc("f-short", kjv("01-Genesis.txt", 35)),
                doc("f-german", german), doc("f-repeat", repetitive), doc("f-lorem", lorem)), 1);
        try (DedupVerticle.DedupWorker worker = new DedupVerticle.DedupWorker(settings, DedupSettings.DEFAULT)) {
            stepUntil(() -> clean().stream().anyMatch(d -> d.id().equals("f-good"))
                    && rejected().stream().filter(r -> r.docId().startsWith("f-")).count() >= 4, worker);
        }
        Map<String, Rejection> byId = new HashMap<>();
        for (Rejection r : rejected()) byId.put(r.docId(), r);
        assertEquals(RejectReason.GOPHER_QUALITY, byId.get("f-short").reason());
        assertTrue(byId.get("f-short").detail().startsWith("gopher_short_doc"), byId.get("f-short").detail());
        assertEquals(RejectReason.LANGUAGE, byId.get("f-german").reason());
        assertTrue(byId.get("f-german").detail().startsWith("de "), byId.get("f-german").detail());
        assertEquals(RejectReason.GOPHER_REPETITION, byId.get("f-repeat").reason());
        assertEquals(RejectReason.C4_QUALITY, byId.get("f-lorem").reason());
        Document kept = clean().stream().filter(d -> d.id().equals("f-good")).findFirst().orElseThrow();
        assertEquals("en", kept.language());
        assertTrue(kept.text().endsWith("Write to email@example.com or visit 192.0.2.1 for more."), kept.text());
        assertEquals(2, kept.quality().piiRedactions());
    }
}
