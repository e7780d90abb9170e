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
        for (Rating rating : List.of(choice(Rating.Choice.A), score(5, Rating.Scale.FIVE, 1),
                new Rating("r3", "ann", "c1", "m", 3, "ck", "hi?", List.of("a", "b"), null, null, null, 0, "better", 9))) {
            assertEquals(rating, JsonSerde.ratings().fromBytes(JsonSerde.ratings().toBytes(rating)));
        }
        Rater rater = new Rater("ann", "0".repeat(64), 5, null);
        assertEquals(rater, JsonSerde.raters().fromBytes(JsonSerde.raters().toBytes(rater)));
        assertEquals(rater.revokedAt(8), JsonSerde.raters().fromBytes(JsonSerde.raters().toBytes(rater.revokedAt(8))));
        PolicyVersion p = new PolicyVersion("m", 2, 1, "policies/m/step-000000020", "checkpoints/m/step-000000010", 16,
                Map.of("0", 12L), Map.of("kl", 0.05), "16 ratings", 11);
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

    private static Rating choice(Rating.Choice choice) {
        return new Rating("r1", "ann", "c1", "m", 3, "ck", "hi?", List.of("a", "b"), choice, null, null, null, null, 9);
    }

    private static Rating score(int score, Rating.Scale scale, Integer answer) {
        return new Rating("r2", "ann", "c1", "m", 3, "ck", "hi?", List.of("a", "b"), null, score, scale, answer, null, 9);
    }

    @Test
    void badRatingsAreRefusedWithTheField() {
        assertEquals("score", assertThrows(InvalidPayloadException.class, () -> score(7, Rating.Scale.FIVE, 0)).field());
        assertEquals("score", assertThrows(InvalidPayloadException.class, () -> score(0, Rating.Scale.THUMBS, 0)).field());
        assertEquals("scale", assertThrows(InvalidPayloadException.class, () -> score(1, null, 0)).field());
        assertEquals("answer", assertThrows(InvalidPayloadException.class, () -> score(1, Rating.Scale.THUMBS, 2)).field());
        assertEquals("answer", assertThrows(InvalidPayloadException.class, () -> score(1, Rating.Scale.THUMBS, null)).field());
        assertEquals("choice", assertThrows(InvalidPayloadException.class, () -> new Rating("r", "ann", "c", "m", 0, "ck",
                "p", List.of("a", "b"), null, null, null, null, null, 0)).field());
        assertEquals("choice", assertThrows(InvalidPayloadException.class, () -> new Rating("r", "ann", "c", "m", 0, "ck",
                "p", List.of("a", "b"), Rating.Choice.A, 1, Rating.Scale.THUMBS, 0, null, 0)).field());
        assertEquals("responses", assertThrows(InvalidPayloadException.class, () -> new Rating("r", "ann", "c", "m", 0,
                "ck", "p", List.of("a"), Rating.Choice.B, null, null, null, null, 0)).field());
        assertEquals("name", assertThrows(InvalidPayloadException.class,
                () -> new Rater("<script>", "0".repeat(64), 0, null)).field());
    }

    @Test
    void scoresSayWhetherAnAnswerIsDesirable() {
        assertEquals(Boolean.TRUE, score(1, Rating.Scale.THUMBS, 0).desirable());
        assertEquals(Boolean.FALSE, score(-1, Rating.Scale.THUMBS, 0).desirable());
        assertEquals(Boolean.FALSE, score(1, Rating.Scale.FIVE, 0).desirable());
        assertEquals(Boolean.FALSE, score(2, Rating.Scale.FIVE, 0).desirable());
        assertNull(score(3, Rating.Scale.FIVE, 0).desirable());
        assertEquals(Boolean.TRUE, score(4, Rating.Scale.FIVE, 0).desirable());
        assertNull(choice(Rating.Choice.TIE).desirable());
        assertEquals(Rating.Kind.CHOICE, choice(Rating.Choice.TIE).kind());
    }

    @Test
    void unknownFieldsAreIgnoredForForwardCompatibility() {
        Document d = JsonSerde.documents().fromBytes(utf8("{\"id\":\"x\",\"source\":\"s\",\"text\":\"t\","
                + "\"contentType\":\"text/plain\",\"ingestedAtMillis\":1,\"futureField\":[1,2]}"));
        assertEquals("x", d.id());
    }
}
