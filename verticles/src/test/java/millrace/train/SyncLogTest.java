package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import millrace.protocol.SyncMessage;
import org.junit.jupiter.api.Test;

/** The rule that makes every replica sum the same pseudo-gradients, applied to hand-made logs. */
class SyncLogTest {
    private static final long DIGEST = 42;
    private final List<String> refused = new ArrayList<>();

    private SyncLog log(long round, long afterClose) {
        return new SyncLog("m", 8, round, afterClose, Map.of(), () -> DIGEST, (reason, replica, detail) -> refused.add(reason));
    }

    /** Chunk k of 2 of {@code replica}'s pseudo-gradient at {@code step}: 4 numbers, each {@code value}. */
    private static SyncMessage.Chunk chunk(String replica, long round, long step, int k, float value, long digest) {
        float[] v = {value, value, value, value};
        return new SyncMessage.Chunk("m", replica, round, step, 5, 40, digest, k, 2, 8, k * 4L, 4,
                SyncMessage.Encoding.FP16, PseudoGradients.encode(v, 0, 4, SyncMessage.Encoding.FP16));
    }

    private static SyncMessage.Chunk chunk(String replica, long round, long step, int k, float value) {
        return chunk(replica, round, step, k, value, DIGEST);
    }

    private static SyncMessage.Close close(String by, long round, int expected) {
        return new SyncMessage.Close("m", by, round, expected);
    }

    /** Feeds {@code records} at offsets {@code first...}; the rounds they close. */
    private static List<SyncLog.Round> feed(SyncLog log, long first, List<SyncMessage> records) {
        List<SyncLog.Round> closed = new ArrayList<>();
        for (int i = 0; i < records.size(); i++) log.accept(first + i, records.get(i)).ifPresent(closed::add);
        return closed;
    }

    private static List<String> summed(SyncLog.Round r) {
        return r.contributions().stream().map(c -> c.replica() + "@" + c.step()).toList();
    }

    @Test
    void aRoundSumsWhatCompletedBeforeItsFirstClose() {
        SyncLog log = log(0, 0);
        List<SyncLog.Round> closed = feed(log, 0, List.of(chunk("b", 0, 5, 0, 1f), chunk("a", 0, 5, 0, 0.5f),
                chunk("b", 0, 5, 1, 1f), chunk("a", 0, 5, 1, 0.5f), close("b", 0, 2), close("a", 0, 2)));
        assertEquals(1, closed.size(), "a second close of round 0 is ignored");
        SyncLog.Round r = closed.get(0);
        assertEquals(List.of("b@5", "a@5"), summed(r), "in the order they completed");
        assertArrayEquals(new float[] {1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f}, r.sum());
        assertFalse(r.timedOut());
        assertEquals(1, log.round());
        assertEquals(Map.of("a", 5L, "b", 5L), log.closedSteps());
        assertEquals(List.of(), refused);
    }

    @Test
    void aContributionCompletedAfterTheCloseIsSummedByTheNextRound() {
        SyncLog log = log(0, 0);
        List<SyncLog.Round> closed = feed(log, 0, List.of(chunk("a", 0, 5, 0, 1f), chunk("a", 0, 5, 1, 1f),
                chunk("b", 0, 5, 0, 1f), close("a", 0, 2), // b straddles the close
                chunk("b", 0, 5, 1, 1f), chunk("c", 0, 7, 0, 1f), chunk("c", 0, 7, 1, 1f), // c: late
                chunk("a", 1, 10, 0, 1f), chunk("a", 1, 10, 1, 1f), close("a", 1, 3)));
        assertEquals(List.of("a@5"), summed(closed.get(0)));
        assertTrue(closed.get(0).timedOut(), "b was awaited and missed it");
        assertEquals(List.of("b@5", "c@7", "a@10"), summed(closed.get(1)));
        assertEquals(1, closed.get(1).onTime(), "only a was on time for round 1");
        assertEquals(List.of(), refused);
    }

    @Test
    void aReplayFromBeforeTheLastCloseSumsWhatTheLiveReplicasSummed() {
        // b's contribution straddles round 0's close, and x's (from other weights) too: a replica restored after that
        // close replays from b's first chunk and must sum b and refuse x, as the replicas that never stopped did
        List<SyncMessage> records = List.of(chunk("a", 0, 5, 0, 1f), chunk("a", 0, 5, 1, 1f), chunk("b", 0, 5, 0, 2f),
                chunk("x", 1, 5, 0, 9f, DIGEST + 1), close("a", 0, 2), chunk("b", 0, 5, 1, 2f),
                chunk("x", 1, 5, 1, 9f, DIGEST + 1), chunk("a", 1, 10, 0, 1f), chunk("a", 1, 10, 1, 1f), close("a", 1, 2));
        SyncLog live = log(0, 0);
        List<SyncLog.Round> liveRounds = feed(live, 0, records);
        List<String> liveRefusals = List.copyOf(refused);
        refused.clear();
        SyncLog restored = log(1, 5);
        List<SyncLog.Round> replayed = feed(restored, 2, records.subList(2, records.size()));
        assertEquals(1, replayed.size());
        assertEquals(summed(liveRounds.get(1)), summed(replayed.get(0)));
        assertEquals(List.of("b@5", "a@10"), summed(replayed.get(0)));
        assertArrayEquals(liveRounds.get(1).sum(), replayed.get(0).sum());
        // judged at its last chunk, in round 1, by both: x began from other weights
        assertEquals(List.of("base"), liveRefusals);
        assertEquals(List.of("base"), refused);
    }

    @Test
    void repeatsOtherSizesAndOtherWeightsAreRefused() {
        SyncLog log = log(0, 0);
        feed(log, 0, List.of(chunk("x", 0, 5, 0, 1f, DIGEST + 1), chunk("x", 0, 5, 1, 1f, DIGEST + 1),
                new SyncMessage.Chunk("m", "y", 0, 5, 5, 40, DIGEST, 0, 1, 4, 0, 4, SyncMessage.Encoding.FP16, new byte[8]),
                chunk("z", 30, 5, 0, 1f), chunk("z", 30, 5, 1, 1f),
                chunk("a", 0, 5, 0, 1f), chunk("a", 0, 5, 0, 1f), // the same chunk twice
                chunk("a", 0, 5, 1, 1f),
                new SyncMessage.Chunk("other-model", "q", 0, 5, 5, 40, 0, 0, 1, 3, 0, 3, SyncMessage.Encoding.FP16, new byte[6])));
        assertEquals(List.of("base", "size", "round", "chunk"), refused);
        assertEquals(java.util.Set.of("a"), log.waiting());
        assertEquals(1, log.accept(99, close("a", 0, 1)).orElseThrow().contributions().size());
        refused.clear();
        // a replica that publishes the same step again (a restart that missed its own on the log) is not summed twice
        feed(log, 100, List.of(chunk("a", 0, 5, 0, 1f), chunk("a", 0, 5, 1, 1f)));
        assertEquals(List.of("repeat"), refused);
    }

    @Test
    void aCloseOfARoundTheReplicaNeverSawMeansTheLogLostRounds() {
        SyncLog log = log(0, 0);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> log.accept(0, close("a", 5, 2)));
        assertTrue(e.getMessage().contains("no longer holds"), e.getMessage());
    }

    @Test
    void aPartialTooOldToBeSummedIsForgotten() {
        SyncLog log = log(0, 0);
        log.accept(0, chunk("dead", 0, 5, 0, 1f)); // its second chunk never comes
        assertEquals(0, log.replayFrom());
        for (int r = 0; r <= SyncLog.LATE_ROUNDS; r++) {
            Optional<SyncLog.Round> closed = log.accept(1 + r, close("a", r, 1));
            assertTrue(closed.isPresent());
        }
        assertEquals(SyncLog.LATE_ROUNDS + 2, log.replayFrom(), "no longer pins the replay");
    }
}
