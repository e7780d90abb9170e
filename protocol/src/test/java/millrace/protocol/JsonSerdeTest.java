package millrace.protocol;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonSerdeTest {
    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void documentRoundTripsWithAndWithoutQuality() {
        Document raw = new Document("d1", "file:///a.txt", "a", "Héllo wörld 🌍", "text/plain", "en", 42L,
                Map.of("bytes", "17"), null);
        JsonSerde<Document> serde = JsonSerde.documents();
        assertEquals(raw, serde.fromBytes(serde.toBytes(raw)));
        Document clean = raw.withQuality(new QualitySignals("abc", 14, 2, 0.7, 0.9, 0));
        assertEquals(clean, serde.fromBytes(serde.toBytes(clean)));
    }

    @Test
    void everyOtherRecordRoundTrips() {
        Rejection r = new Rejection("d1", "a.txt", "dedup", RejectReason.EXACT_DUPLICATE, "same as d0", "b.txt", 5);
        assertEquals(r, JsonSerde.rejections().fromBytes(JsonSerde.rejections().toBytes(r)));
        Checkpoint c = new Checkpoint("m", 10, 1000, Map.of("0", 12L), "checkpoints/m/step-000000010", 3.5, null, "tok", 7);
        assertEquals(c, JsonSerde.checkpoints().fromBytes(JsonSerde.checkpoints().toBytes(c)));
        Rating rating = new Rating("r1", "ann", "hi?", List.of("a", "b"), Rating.Choice.A, null, null, 3, 9);
        assertEquals(rating, JsonSerde.ratings().fromBytes(JsonSerde.ratings().toBytes(rating)));
        PolicyVersion p = new PolicyVersion("m", 2, 1, "checkpoints/m/step-000000020", 16, Map.of("loss", 1.5), 11);
        assertEquals(p, JsonSerde.policies().fromBytes(JsonSerde.policies().toBytes(p)));
    }

    @Test
    void malformedJsonIsAClearError() {
        InvalidPayloadException e = assertThrows(InvalidPayloadException.class,
                () -> JsonSerde.documents().fromBytes(utf8("{\"id\": \"x\", ")));
        assertTrue(e.getMessage().contains("malformed JSON"), e.getMessage());
    }

    @Test
    void missingFieldIsNamed() {
        InvalidPayloadException e = assertThrows(InvalidPayloadException.class, () -> JsonSerde.documents()
                .fromBytes(utf8("{\"id\":\"x\",\"text\":\"t\",\"contentType\":\"text/plain\",\"ingestedAtMillis\":1}")));
        assertEquals("source", e.field());
    }

    @Test
    void wrongTypeIsNamed() {
        InvalidPayloadException e = assertThrows(InvalidPayloadException.class, () -> JsonSerde.checkpoints()
                .fromBytes(utf8("{\"model\":\"m\",\"step\":\"many\"}")));
        assertEquals("step", e.field());
    }

    @Test
    void badRatingsAreRefusedWithTheField() {
        assertEquals("score", assertThrows(InvalidPayloadException.class,
                () -> new Rating("r", "ann", "p", List.of("a"), null, 7, null, 0, 0)).field());
        assertEquals("choice", assertThrows(InvalidPayloadException.class,
                () -> new Rating("r", "ann", "p", List.of("a", "b"), null, null, null, 0, 0)).field());
        assertEquals("responses", assertThrows(InvalidPayloadException.class,
                () -> new Rating("r", "ann", "p", List.of("a"), Rating.Choice.B, null, null, 0, 0)).field());
    }

    @Test
    void unknownFieldsAreIgnoredForForwardCompatibility() {
        Document d = JsonSerde.documents().fromBytes(utf8("{\"id\":\"x\",\"source\":\"s\",\"text\":\"t\","
                + "\"contentType\":\"text/plain\",\"ingestedAtMillis\":1,\"futureField\":[1,2]}"));
        assertEquals("x", d.id());
    }
}
