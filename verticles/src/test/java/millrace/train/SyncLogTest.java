package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import millrace.protocol.SyncMessage;
import org.junit.jupiter.api.Test;

/** The rule that makes every replica sum the same pseudo-gradients, applied to hand-made logs. */
class SyncLogTest {
    private static final long DIGEST = 42;
    private final List<String> refused = new ArrayList<>();
    private long offset;

    private SyncLog log() {
        return new SyncLog("m", 8, 0, 0, () -> DIGEST, (reason, detail) -> refused.add(reason));
    }

    private static SyncMessage.Chunk chunk(String replica, long round, long step, int k, int chunks) {
        return new SyncMessage.Chunk("m", replica, round, step, 5, 40, DIGEST, k, chunks, 8, k * 4L, 4,
                SyncMessage.Encoding.FP16, new byte[8]);
    }

    private java.util.Optional<SyncLog.Round> feed(SyncLog log, SyncMessage m) {
        return log.accept(offset++, m);
    }

    private static List<String> summed(SyncLog.Round r) {
        return r.contributions().stream().map(c -> c.replica() + "@" + c.step()).toList();
    }

    @Test
    void aRoundSumsWhatCompletedBeforeItsFirstCloseInReplicaOrder() {
        SyncLog log = log();
        feed(log, chunk("b", 0, 5, 0, 2));
        feed(log, chunk("a", 0, 5, 0, 2));
        feed(log, chunk("b", 0, 5, 1, 2));
        feed(log, chunk("a", 0, 5, 1, 2));
        assertEquals(java.util.Set.of("a", "b"), log.waiting());
        SyncLog.Round r = feed(log, new SyncMessage.Close("m", "b", 0, 2)).orElseThrow();
        assertEquals(List.of("a@5", "b@5"), summed(r));
        assertFalse(r.timedOut());
        assertEquals(1, log.round());
        assertTrue(feed(log, new SyncMessage.Close("m", "a", 0, 2)).isEmpty(), "a second close of round 0 is ignored");
        assertEquals(List.of(), refused);
    }

    @Test
    void aContributionCompletedAfterTheCloseIsSummedByTheNextRound() {
        SyncLog log = log();
        feed(log, chunk("a", 0, 5, 0, 2));
        feed(log, chunk("a", 0, 5, 1, 2));
        feed(log, chunk("b", 0, 5, 0, 2)); // b's chunks straddle the close
        SyncLog.Round first = feed(log, new SyncMessage.Close("m", "a", 0, 2)).orElseThrow();
        assertEquals(List.of("a@5"), summed(first));
        assertTrue(first.timedOut());
        assertEquals(2, log.replayFrom(), "a replay must start at b's first chunk");
        feed(log, chunk("b", 0, 5, 1, 2));
        feed(log, chunk("c", 0, 7, 0, 2)); // published after round 0 closed: late, summed by round 1
        feed(log, chunk("c", 0, 7, 1, 2));
        feed(log, chunk("a", 1, 10, 0, 2));
        feed(log, chunk("a", 1, 10, 1, 2));
        SyncLog.Round second = feed(log, new SyncMessage.Close("m", "a", 1, 3)).orElseThrow();
        assertEquals(List.of("a@10", "b@5", "c@7"), summed(second));
        assertEquals(List.of(), refused);
    }

    @Test
    void aReplayFromBeforeTheLastCloseSumsNothingTwice() {
        // the log of the test above, replayed by a replica restored after round 0's close (offset 4)
        List<SyncMessage> records = List.of(chunk("a", 0, 5, 0, 2), chunk("a", 0, 5, 1, 2), chunk("b", 0, 5, 0, 2),
                new SyncMessage.Close("m", "a", 0, 2), chunk("b", 0, 5, 1, 2), chunk("a", 1, 10, 0, 2),
                chunk("a", 1, 10, 1, 2), new SyncMessage.Close("m", "a", 1, 2));
        SyncLog restored = new SyncLog("m", 8, 1, 4, () -> DIGEST, (reason, detail) -> refused.add(reason));
        List<SyncLog.Round> closed = new ArrayList<>();
        for (int i = 2; i < records.size(); i++) restored.accept(i, records.get(i)).ifPresent(closed::add);
        assertEquals(1, closed.size());
        assertEquals(List.of("a@10", "b@5"), summed(closed.get(0)));
    }

    @Test
    void contributionsFromOtherWeightsSizesOrRoundsAreRefused() {
        SyncLog log = log();
        feed(log, new SyncMessage.Chunk("m", "x", 0, 5, 5, 40, DIGEST + 1, 0, 1, 8, 0, 8, SyncMessage.Encoding.FP16, new byte[16]));
        feed(log, new SyncMessage.Chunk("m", "y", 0, 5, 5, 40, DIGEST, 0, 1, 4, 0, 4, SyncMessage.Encoding.FP16, new byte[8]));
        feed(log, chunk("z", 3, 5, 0, 2));
        feed(log, chunk("a", 0, 5, 0, 2));
        feed(log, chunk("a", 0, 5, 0, 2)); // the same chunk twice
        feed(log, new SyncMessage.Chunk("other-model", "q", 0, 5, 5, 40, 0, 0, 1, 3, 0, 3, SyncMessage.Encoding.FP16, new byte[6]));
        assertEquals(List.of("base", "size", "round", "chunk"), refused);
        assertEquals(java.util.Set.of(), log.waiting());
    }

    @Test
    void aCloseOfARoundTheReplicaNeverSawMeansTheLogLostRounds() {
        SyncLog log = log();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> feed(log, new SyncMessage.Close("m", "a", 5, 2)));
        assertTrue(e.getMessage().contains("no longer holds"), e.getMessage());
    }
}
