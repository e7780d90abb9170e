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
import java.nio.file.Path;
import millrace.model.Sampler;
import org.junit.jupiter.api.io.TempDir;
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

    /** A tiny model's checkpoint, served as the web role serves one (loaded on its own thread). */
    private static ServingModel served(Path dir) throws Exception {
        ServingModel serving = new ServingModel("m");
        serving.want(new ServingModel.Policy("m", 0, WebFixture.writeCheckpoint(dir, "m", 1).toString(), null));
        return serving;
    }

    private static GenerationQueue.Request request(int tokens, long[] seeds, Runnable onStart, java.util.function.BiConsumer<Integer, String> onText) {
        return new GenerationQueue.Request("In the beginning", seeds, new Sampler.Settings(tokens, 0f, 0, 0), false,
                policy -> onStart.run(), onText);
    }

    /** A job that holds the generation thread at its start until {@code release}; returns once it is held. */
    private static CompletableFuture<GenerationQueue.Result> held(GenerationQueue queue, int tokens, CountDownLatch release)
            throws InterruptedException {
        CountDownLatch running = new CountDownLatch(1);
        CompletableFuture<GenerationQueue.Result> job = queue.submit(new GenerationQueue.Ticket(), request(tokens, new long[] {1}, () -> {
            running.countDown();
            await(release);
        }, (row, piece) -> { }), false);
        assertTrue(running.await(60, TimeUnit.SECONDS));
        return job;
    }

    @Test
    void theGenerationQueueRefusesWhenFullSkipsTheCancelledAndTurnsAwayTheLate(@TempDir Path dir) throws Exception {
        try (ServingModel serving = served(dir); GenerationQueue queue = new GenerationQueue(serving, 1, 200, 8)) {
            CountDownLatch release = new CountDownLatch(1);
            CompletableFuture<GenerationQueue.Result> first = held(queue, 4, release);
            GenerationQueue.Ticket leaves = new GenerationQueue.Ticket();
            List<String> ran = new ArrayList<>();
            CompletableFuture<GenerationQueue.Result> queued = queue.submit(leaves, request(4, new long[] {1},
                    () -> ran.add("queued"), (row, piece) -> { }), false);
            CompletableFuture<GenerationQueue.Result> refused = queue.submit(new GenerationQueue.Ticket(),
                    request(4, new long[] {1}, () -> { }, (row, piece) -> { }), false);
            ExecutionException full = assertThrows(ExecutionException.class, () -> refused.get(1, TimeUnit.SECONDS));
            assertInstanceOf(GenerationQueue.Busy.class, full.getCause());
            assertTrue(((GenerationQueue.Busy) full.getCause()).retryAfterSeconds >= 1);

            leaves.cancel(); // the client of the queued job went away
            release.countDown();
            GenerationQueue.Result done = first.get(10, TimeUnit.SECONDS);
            assertEquals(4, done.answers().get(0).newTokens());
            assertEquals(0, done.policy().version());
            assertThrows(CancellationException.class, () -> queued.get(5, TimeUnit.SECONDS));
            assertTrue(ran.isEmpty(), "a cancelled job never starts");

            // a job that waits past the limit is refused when its turn comes
            CountDownLatch slow = new CountDownLatch(1);
            queue.submit(new GenerationQueue.Ticket(), request(4, new long[] {1}, () -> await(slow), (row, piece) -> { }), false);
            Thread.sleep(100);
            CompletableFuture<GenerationQueue.Result> late = queue.submit(new GenerationQueue.Ticket(),
                    request(4, new long[] {1}, () -> { }, (row, piece) -> { }), false);
            Thread.sleep(400);
            slow.countDown();
            ExecutionException timeout = assertThrows(ExecutionException.class, () -> late.get(5, TimeUnit.SECONDS));
            assertInstanceOf(GenerationQueue.Busy.class, timeout.getCause());
        }
    }

    /**
     * Requests that arrive while one is being answered join its batch (a comparison's two answers count two rows):
     * their tokens come interleaved, each gets all it asked for, and what does not fit waits for room.
     */
    @Test
    void requestsThatArriveTogetherShareTheBatch(@TempDir Path dir) throws Exception {
        try (ServingModel serving = served(dir); GenerationQueue queue = new GenerationQueue(serving, 8, 60_000, 4)) {
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch running = new CountDownLatch(1);
            long[][] pieceTimes = new long[4][2]; // first and last piece of each request, on the generation thread
            List<CompletableFuture<GenerationQueue.Result>> results = new ArrayList<>();
            long[][] seeds = {{1}, {2, 3}, {4}, {5}};
            for (int i = 0; i < 4; i++) {
                int request = i;
                results.add(queue.submit(new GenerationQueue.Ticket(), request(24, seeds[i], () -> {
                    if (request == 0) {
                        running.countDown();
                        await(release);
                    }
                }, (row, piece) -> {
                    long now = System.nanoTime();
                    if (pieceTimes[request][0] == 0) pieceTimes[request][0] = now;
                    pieceTimes[request][1] = now;
                }), false));
                if (i == 0) assertTrue(running.await(60, TimeUnit.SECONDS));
            }
            release.countDown();
            for (int i = 0; i < 4; i++) {
                GenerationQueue.Result r = results.get(i).get(30, TimeUnit.SECONDS);
                assertEquals(seeds[i].length, r.answers().size());
                for (Generator.Answer a : r.answers()) assertEquals(24, a.newTokens(), "past the block of 16, too");
            }
            // requests 0-2 (four rows) decoded together; request 3 found no room and waited for the batch to drain
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) assertTrue(pieceTimes[i][0] < pieceTimes[j][1], i + " started before " + j + " ended");
            }
            for (int i = 0; i < 3; i++) assertTrue(pieceTimes[3][0] > pieceTimes[i][1], "request 3 waited for room");
        }
    }

    @Test
    void requestsWithoutATokenHoldAQuarterOfTheQueueAndAStoppingQueueFailsWhatWaitsAndWhatRuns(@TempDir Path dir) throws Exception {
        try (ServingModel serving = served(dir)) {
            GenerationQueue queue = new GenerationQueue(serving, 8, 60_000, 8);
            CountDownLatch release = new CountDownLatch(1);
            CompletableFuture<GenerationQueue.Result> started = held(queue, 400, release);
            List<CompletableFuture<GenerationQueue.Result>> anonymous = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                anonymous.add(queue.submit(new GenerationQueue.Ticket(), request(4, new long[] {1}, () -> { }, (row, piece) -> { }), true));
            }
            int refused = 0;
            for (CompletableFuture<GenerationQueue.Result> f : anonymous) {
                if (f.isCompletedExceptionally()) refused++;
            }
            assertEquals(2, refused, "a quarter of 8 places for requests without a token");
            CompletableFuture<GenerationQueue.Result> rater = queue.submit(new GenerationQueue.Ticket(),
                    request(4, new long[] {1}, () -> { }, (row, piece) -> { }), false);
            assertFalse(rater.isDone(), "a rater still gets a place");
            Thread closing = new Thread(queue::close); // fails what waits at once, then waits for the batch
            closing.start();
            ExecutionException stopping = assertThrows(ExecutionException.class, () -> rater.get(5, TimeUnit.SECONDS));
            assertInstanceOf(GenerationQueue.Busy.class, stopping.getCause());
            release.countDown();
            // the one being decoded is cancelled by the close: it fails as stopping within a step, not 400 tokens on
            ExecutionException stopped = assertThrows(ExecutionException.class, () -> started.get(10, TimeUnit.SECONDS));
            assertInstanceOf(GenerationQueue.Busy.class, stopped.getCause());
            closing.join(10_000);
            assertFalse(closing.isAlive());
            ExecutionException after = assertThrows(ExecutionException.class, () -> queue.submit(new GenerationQueue.Ticket(),
                    request(4, new long[] {1}, () -> { }, (row, piece) -> { }), false).get(1, TimeUnit.SECONDS));
            assertInstanceOf(GenerationQueue.Busy.class, after.getCause(), "a closed queue refuses at once");
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}
