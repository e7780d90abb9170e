package millrace.web;

import static org.junit.jupiter.api.Assertions.*;

import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rating;
import org.junit.jupiter.api.Test;

/** The arena's logic without HTTP: rate limits, comparisons, the rating form, TRL rows, the generation queue. */
class ArenaPartsTest {
    private static final ServingModel.Policy POLICY = new ServingModel.Policy("m", 3, "/ck/3", "/ck/base");

    private static Comparisons.Comparison shown(String id, String rater, long at) {
        return new Comparisons.Comparison(id, rater, POLICY, "Say hi", List.of("hi", "hello"), at);
    }

    @Test
    void aTokenBucketAllowsABurstThenTheRate() {
        RateLimiter limit = new RateLimiter(2, 3);
        long t = 1_000_000;
        for (int i = 0; i < 3; i++) assertEquals(0, limit.acquire("ann", t));
        assertEquals(500, limit.acquire("ann", t), "one more token in half a second at 2/s");
        assertEquals(0, limit.acquire("bob", t), "every rater has their own bucket");
        assertEquals(0, limit.acquire("ann", t + 500));
        assertTrue(limit.acquire("ann", t + 500) > 0);
        assertEquals(0, limit.acquire("ann", t + 10_000));
    }

    @Test
    void comparisonsAreFoundOnlyByTheirRaterWithinTheirTimeAndCapacity() {
        Comparisons c = new Comparisons(2, 60_000);
        c.add(shown("c1", "ann", 0));
        c.claim("c1", "choice", "r1");
        c.claim("c1", "choice", "r1"); // the same rating again: a re-send
        c.claim("c1", "score of answer A", "r2");
        assertThrows(Comparisons.Taken.class, () -> c.claim("c1", "choice", "r3"), "a second choice");
        c.release("c1", "choice", "r1");
        c.claim("c1", "choice", "r3"); // a choice whose rating never reached Kafka leaves the slot free
        assertTrue(c.find("c1", "ann", 1000).isPresent());
        assertTrue(c.find("c1", "bob", 1000).isEmpty(), "another rater's comparison");
        assertTrue(c.find("c9", "ann", 1000).isEmpty(), "unknown");
        c.add(shown("c2", "ann", 2000));
        c.add(shown("c3", "ann", 3000));
        assertTrue(c.find("c1", "ann", 3000).isEmpty(), "the oldest is forgotten past the capacity");
        assertTrue(c.find("c3", "ann", 62_000).isPresent());
        assertTrue(c.find("c2", "ann", 62_001).isEmpty(), "expired");
        assertNotEquals(Comparisons.newId(), Comparisons.newId());
    }

    private static String field(String json) {
        return assertThrows(InvalidPayloadException.class, () -> RatingForm.parse(new JsonObject(json))).field();
    }

    @Test
    void theRatingFormNamesTheWrongField() {
        assertEquals("comparisonId", field("{\"choice\":\"A\"}"));
        assertEquals("comparisonId", field("{\"comparisonId\":7,\"choice\":\"A\"}"));
        assertEquals("choice", field("{\"comparisonId\":\"c\"}"));
        assertEquals("choice", field("{\"comparisonId\":\"c\",\"choice\":\"C\"}"));
        assertEquals("choice", field("{\"comparisonId\":\"c\",\"choice\":\"A\",\"score\":1,\"scale\":\"thumbs\",\"answer\":0}"));
        assertEquals("answer", field("{\"comparisonId\":\"c\",\"choice\":\"A\",\"answer\":0}"));
        assertEquals("answer", field("{\"comparisonId\":\"c\",\"score\":1,\"scale\":\"thumbs\"}"));
        assertEquals("answer", field("{\"comparisonId\":\"c\",\"score\":1,\"scale\":\"thumbs\",\"answer\":2}"));
        assertEquals("scale", field("{\"comparisonId\":\"c\",\"score\":1,\"answer\":0}"));
        assertEquals("scale", field("{\"comparisonId\":\"c\",\"score\":1,\"scale\":\"stars\",\"answer\":0}"));
        assertEquals("score", field("{\"comparisonId\":\"c\",\"score\":0,\"scale\":\"thumbs\",\"answer\":0}"));
        assertEquals("score", field("{\"comparisonId\":\"c\",\"score\":6,\"scale\":\"five\",\"answer\":0}"));
        assertEquals("score", field("{\"comparisonId\":\"c\",\"score\":1.5,\"scale\":\"five\",\"answer\":0}"));
        assertEquals("editedAnswer", field("{\"comparisonId\":\"c\",\"editedAnswer\":\"  \",\"answer\":0}"));
        assertEquals("editedAnswer", field("{\"comparisonId\":\"c\",\"editedAnswer\":\"" + "x".repeat(8001) + "\",\"answer\":0}"));
        assertEquals("idempotencyKey", field("{\"comparisonId\":\"c\",\"choice\":\"A\",\"idempotencyKey\":\"" + "k".repeat(129) + "\"}"));
        assertEquals("rater", field("{\"comparisonId\":\"c\",\"choice\":\"A\",\"rater\":\"mallory\"}"));
        // what the rating is about comes from the comparison; an edit must change something
        RatingForm edit = RatingForm.parse(new JsonObject("{\"comparisonId\":\"c1\",\"editedAnswer\":\"hello\",\"answer\":1}"));
        assertEquals("editedAnswer", assertThrows(InvalidPayloadException.class,
                () -> edit.toRating("r", "ann", shown("c1", "ann", 0), 5)).field());
    }

    @Test
    void theFormMakesTheRatingOfWhatWasShown() {
        RatingForm form = RatingForm.parse(new JsonObject("{\"comparisonId\":\"c1\",\"score\":4,\"scale\":\"five\",\"answer\":1,\"idempotencyKey\":\"k\"}"));
        Rating r = form.toRating(form.ratingId("ann"), "ann", shown("c1", "ann", 0), 5);
        assertEquals(List.of("hi", "hello"), r.responses());
        assertEquals(3, r.policyVersion());
        assertEquals("/ck/3", r.checkpoint());
        assertEquals(Rating.Scale.FIVE, r.scale());
        assertEquals(Boolean.TRUE, r.desirable());
        assertEquals(form.ratingId("ann"), r.id(), "the same key gives the same id");
        assertNotEquals(form.ratingId("ann"), form.ratingId("bob"), "keys are per rater");
        RatingForm keyless = RatingForm.parse(new JsonObject("{\"comparisonId\":\"c1\",\"choice\":\"tie\"}"));
        assertNotEquals(keyless.ratingId("ann"), keyless.ratingId("ann"));
        assertEquals(Rating.Choice.TIE, keyless.choice());
    }

    private static Rating rating(Rating.Choice choice, Integer score, Rating.Scale scale, Integer answer, String edit) {
        return new Rating("r1", "ann", "c1", "m", 3, "/ck", "Say hi", List.of("hi", "hello"), choice, score, scale,
                answer, edit, 9);
    }

    @Test
    void ratingsBecomeTrlRows() {
        var a = TrlRows.of(rating(Rating.Choice.A, null, null, null, null), TrlRows.Shape.PAIRED);
        assertEquals(1, a.size());
        assertEquals("Say hi", a.get(0).get("prompt").asText());
        assertEquals("hi", a.get(0).get("chosen").asText());
        assertEquals("hello", a.get(0).get("rejected").asText());
        assertEquals("r1", a.get(0).get("rating_id").asText());
        assertEquals(3, a.get(0).get("policy_version").asLong());
        assertEquals("hello", TrlRows.of(rating(Rating.Choice.B, null, null, null, null), TrlRows.Shape.PAIRED).get(0).get("chosen").asText());
        var edit = TrlRows.of(rating(null, null, null, 1, "hello there"), TrlRows.Shape.PAIRED).get(0);
        assertEquals("hello there", edit.get("chosen").asText());
        assertEquals("hello", edit.get("rejected").asText());
        assertTrue(TrlRows.of(rating(Rating.Choice.TIE, null, null, null, null), TrlRows.Shape.PAIRED).isEmpty());
        assertTrue(TrlRows.of(rating(Rating.Choice.TIE, null, null, null, null), TrlRows.Shape.UNPAIRED).isEmpty());

        var bad = TrlRows.of(rating(Rating.Choice.BOTH_BAD, null, null, null, null), TrlRows.Shape.UNPAIRED);
        assertEquals(List.of("hi", "hello"), bad.stream().map(n -> n.get("completion").asText()).toList());
        assertTrue(bad.stream().noneMatch(n -> n.get("label").asBoolean()));
        var up = TrlRows.of(rating(null, 1, Rating.Scale.THUMBS, 0, null), TrlRows.Shape.UNPAIRED).get(0);
        assertEquals("hi", up.get("completion").asText());
        assertTrue(up.get("label").asBoolean());
        assertFalse(TrlRows.of(rating(null, 2, Rating.Scale.FIVE, 1, null), TrlRows.Shape.UNPAIRED).get(0).get("label").asBoolean());
        assertTrue(TrlRows.of(rating(null, 3, Rating.Scale.FIVE, 1, null), TrlRows.Shape.UNPAIRED).isEmpty());
        assertTrue(TrlRows.of(rating(null, 3, Rating.Scale.FIVE, 1, null), TrlRows.Shape.PAIRED).isEmpty());

        Rating raw = rating(Rating.Choice.TIE, null, null, null, null);
        assertEquals(raw, JsonSerde.ratings().fromBytes(TrlRows.of(raw, TrlRows.Shape.RAW).get(0).toString().getBytes()));
        assertThrows(IllegalArgumentException.class, () -> TrlRows.Shape.parse("csv"));
    }

    @Test
    void theGenerationQueueRefusesWhenFullSkipsTheCancelledAndTurnsAwayTheLate() throws Exception {
        try (GenerationQueue queue = new GenerationQueue(1, 200)) {
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch running = new CountDownLatch(1);
            CompletableFuture<String> first = queue.submit(new GenerationQueue.Ticket(), t -> {
                running.countDown();
                await(release);
                return "first";
            }, false);
            assertTrue(running.await(5, TimeUnit.SECONDS));
            GenerationQueue.Ticket leaves = new GenerationQueue.Ticket();
            List<String> ran = new ArrayList<>();
            CompletableFuture<String> queued = queue.submit(leaves, t -> {
                ran.add("queued");
                return "queued";
            }, false);
            CompletableFuture<String> refused = queue.submit(new GenerationQueue.Ticket(), t -> "refused", false);
            ExecutionException full = assertThrows(ExecutionException.class, () -> refused.get(1, TimeUnit.SECONDS));
            assertInstanceOf(GenerationQueue.Busy.class, full.getCause());
            assertTrue(((GenerationQueue.Busy) full.getCause()).retryAfterSeconds >= 1);

            leaves.cancel(); // the client of the queued job went away
            release.countDown();
            assertEquals("first", first.get(5, TimeUnit.SECONDS));
            assertThrows(CancellationException.class, () -> queued.get(5, TimeUnit.SECONDS));
            assertTrue(ran.isEmpty(), "a cancelled job never runs");

            // a job that waits past the limit is refused when its turn comes
            CountDownLatch slow = new CountDownLatch(1);
            queue.submit(new GenerationQueue.Ticket(), t -> {
                await(slow);
                return "slow";
            }, false);
            CompletableFuture<String> late = queue.submit(new GenerationQueue.Ticket(), t -> "late", false);
            Thread.sleep(400);
            slow.countDown();
            ExecutionException timeout = assertThrows(ExecutionException.class, () -> late.get(5, TimeUnit.SECONDS));
            assertInstanceOf(GenerationQueue.Busy.class, timeout.getCause());
        }
    }

    @Test
    void requestsWithoutATokenHoldAQuarterOfTheQueueAndAStoppingQueueFailsWhatWaits() throws Exception {
        GenerationQueue queue = new GenerationQueue(8, 60_000);
        CountDownLatch release = new CountDownLatch(1);
        queue.submit(new GenerationQueue.Ticket(), t -> {
            await(release);
            return "rater's";
        }, false);
        List<CompletableFuture<String>> anonymous = new ArrayList<>();
        for (int i = 0; i < 4; i++) anonymous.add(queue.submit(new GenerationQueue.Ticket(), t -> "anonymous", true));
        int refused = 0;
        for (CompletableFuture<String> f : anonymous) {
            if (f.isCompletedExceptionally()) refused++;
        }
        assertEquals(2, refused, "a quarter of 8 places for requests without a token");
        CompletableFuture<String> rater = queue.submit(new GenerationQueue.Ticket(), t -> "rater's", false);
        assertFalse(rater.isDone(), "a rater still gets a place");
        queue.close(); // the running job is interrupted at its latch; what waited fails at once
        release.countDown();
        ExecutionException stopping = assertThrows(ExecutionException.class, () -> rater.get(5, TimeUnit.SECONDS));
        assertInstanceOf(GenerationQueue.Busy.class, stopping.getCause());
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}
