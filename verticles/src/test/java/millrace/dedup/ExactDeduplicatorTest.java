package millrace.dedup;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Map;
import millrace.protocol.Document;
import org.junit.jupiter.api.Test;

class ExactDeduplicatorTest {
    private static Document doc(String id, String source, String text) {
        return new Document(id, source, "", text, "text/plain", null, 1, Map.of(), null);
    }

    @Test
    void firstSeenIsKeptLaterCopiesAreDuplicatesOfIt() {
        ExactDeduplicator d = new ExactDeduplicator();
        assertInstanceOf(ExactDeduplicator.Kept.class, d.judge(doc("1", "a.txt", "The LORD is my shepherd.")));
        ExactDeduplicator.Verdict v = d.judge(doc("2", "b.txt", "  the lord IS my\n\tshepherd. "));
        ExactDeduplicator.Duplicate dup = assertInstanceOf(ExactDeduplicator.Duplicate.class, v);
        assertEquals(new ExactDeduplicator.KeptDoc("1", "a.txt"), dup.original());
        assertInstanceOf(ExactDeduplicator.Kept.class, d.judge(doc("3", "c.txt", "The LORD is my shepherd!")));
    }

    @Test
    void theSameDocumentAgainIsAReplayNotADuplicate() {
        ExactDeduplicator d = new ExactDeduplicator();
        d.judge(doc("1", "a.txt", "text"));
        assertInstanceOf(ExactDeduplicator.AlreadyKept.class, d.judge(doc("1", "a.txt", "text")));
    }

    @Test
    void rebuiltIndexJudgesLikeTheOriginal() {
        ExactDeduplicator first = new ExactDeduplicator();
        Document kept = ((ExactDeduplicator.Kept) first.judge(doc("1", "a.txt", "Ｆｕｌｌwidth text"))).clean();
        ExactDeduplicator rebuilt = new ExactDeduplicator();
        rebuilt.remember(kept);
        assertEquals(1, rebuilt.size());
        // NFKC folds full-width letters: the same text
        assertInstanceOf(ExactDeduplicator.Duplicate.class, rebuilt.judge(doc("2", "b.txt", "fullwidth TEXT")));
    }

    @Test
    void signalsMeasureTheText() {
        var q = ExactDeduplicator.measure("ab 12\ncd");
        assertEquals(8, q.chars());
        assertEquals(3, q.words());
        assertEquals(0.5, q.alphaFraction(), 1e-9);
        assertEquals(64, q.textHash().length());
    }
}
