package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import millrace.protocol.ShardDoc;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import org.junit.jupiter.api.Test;

class ShardPackerTest {
    private static int[] tokens(int doc, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = doc * 1000 + i;
        return t;
    }

    @Test
    void packsRowsAcrossDocumentsAndNamesTheirPositions() {
        ShardPacker p = new ShardPacker("p0-train", "tok", 3, Split.TRAIN, null);
        p.add(10, new ShardDoc("a", 1), tokens(1, 6));
        p.add(11, new ShardDoc("b", 2), tokens(2, 5));
        assertEquals(2, p.fullRows());
        TokenShard s = p.take(2);
        assertEquals("p0-train-10+0", s.id());
        assertEquals(List.of("a", "b"), s.docs().stream().map(ShardDoc::id).toList());
        assertArrayEquals(new int[] {1000, 1001, 1002, 1003, 1004, 1005, 2000, 2001}, s.tokens());
        assertEquals(new ShardPacker.Position(11, 2), p.pending(12));
        assertEquals(0, p.fullRows());
    }

    @Test
    void emptyPackerResumesAfterWhatWasRead() {
        ShardPacker p = new ShardPacker("x", "tok", 1, Split.VAL, null);
        assertEquals(new ShardPacker.Position(7, 0), p.pending(7));
    }

    /** Replay after a crash at every possible point: every token is shipped exactly once. */
    @Test
    void resumingFromAnyCommitShipsEveryTokenExactlyOnce() {
        int[][] docs = {tokens(1, 7), tokens(2, 1), tokens(3, 12), tokens(4, 3), tokens(5, 9)};
        List<Integer> expected = new ArrayList<>();
        for (int[] d : docs) for (int t : d) expected.add(t);
        int rowLen = 4;
        for (int crashAfter = 0; crashAfter <= docs.length; crashAfter++) {
            // first life: read docs [0, crashAfter), ship full shards of one row, commit, then crash
            List<Integer> shipped = new ArrayList<>();
            ShardPacker first = new ShardPacker("p", "tok", rowLen - 1, Split.TRAIN, null);
            for (int i = 0; i < crashAfter; i++) {
                first.add(i, new ShardDoc("d" + i, 0), docs[i]);
                while (first.fullRows() > 0) for (int t : first.take(1).tokens()) shipped.add(t);
            }
            ShardPacker.Position committed = first.pending(crashAfter);
            // second life: replay from the committed offset
            ShardPacker second = new ShardPacker("p", "tok", rowLen - 1, Split.TRAIN, committed);
            for (int i = (int) committed.offset(); i < docs.length; i++) {
                second.add(i, new ShardDoc("d" + i, 0), docs[i]);
                while (second.fullRows() > 0) for (int t : second.take(1).tokens()) shipped.add(t);
            }
            int whole = expected.size() / rowLen * rowLen;
            assertEquals(expected.subList(0, whole), shipped, "crash after " + crashAfter);
        }
    }
}
