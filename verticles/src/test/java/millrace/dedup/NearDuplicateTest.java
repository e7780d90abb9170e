package millrace.dedup;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import millrace.protocol.DedupClaim;
import org.junit.jupiter.api.Test;

/** MinHash estimates, the index's greedy semantics, replays and re-ingests, and the exact ground truth. */
class NearDuplicateTest {
    private static String randomText(Random r, int words) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words; i++) sb.append("w").append(r.nextInt(5000)).append(' ');
        return sb.toString();
    }

    private static String edit(String text, int n, Random r) {
        String[] w = text.split(" ");
        for (int i = 0; i < n; i++) w[r.nextInt(w.length)] = "x" + r.nextInt(1_000_000);
        return String.join(" ", w);
    }

    @Test
    void signatureAgreementEstimatesExactJaccard() {
        Random r = new Random(1);
        MinHasher h = new MinHasher(5, 112, 1);
        double worst = 0;
        for (int i = 0; i < 40; i++) {
            String a = randomText(r, 400);
            String b = edit(a, 1 + r.nextInt(30), r);
            double exact = JaccardJoin.jaccard(MinHasher.shingleHashes(a, 5), MinHasher.shingleHashes(b, 5));
            double estimate = MinHasher.similarity(h.signature(a), h.signature(b));
            worst = Math.max(worst, Math.abs(exact - estimate));
        }
        // 112 permutations: standard error <= 0.05; 40 pairs stay within 4 of them
        assertTrue(worst < 0.2, "worst error " + worst);
        assertEquals(1.0, MinHasher.similarity(h.signature("The LORD is my shepherd"), h.signature("the lord, IS my shepherd!")));
    }

    private static DedupClaim claim(String id, String input, String text, MinHasher h) {
        return new DedupClaim(id, id + ".txt", input, TextHash.of(text), h.signature(text), 1);
    }

    @Test
    void firstSeenIsKeptReplaysRepeatAndReingestsAddNothing() {
        Random r = new Random(2);
        NearDuplicateSettings s = NearDuplicateSettings.DEFAULT;
        MinHasher h = s.hasher();
        DedupIndex index = new DedupIndex(s);
        String a = randomText(r, 300);
        String unrelated = randomText(r, 300);
        assertInstanceOf(DedupIndex.Kept.class, index.apply(claim("a", "p0@0", a, h)).verdict());
        DedupIndex.Verdict near = index.apply(claim("b", "p0@1", edit(a, 3, r), h)).verdict();
        assertEquals("a", assertInstanceOf(DedupIndex.NearDuplicate.class, near).original().docId());
        DedupIndex.Verdict exact = index.apply(claim("c", "p1@0", "  " + a.toUpperCase(), h)).verdict();
        assertEquals("a", assertInstanceOf(DedupIndex.ExactDuplicate.class, exact).original().docId());
        assertInstanceOf(DedupIndex.Kept.class, index.apply(claim("d", "p1@1", unrelated, h)).verdict());
        // the same input claimed again (a crash before the verdict was committed): the first verdict, again
        DedupIndex.Judgement replay = index.apply(claim("b", "p0@1", edit(a, 3, new Random(99)), h));
        assertTrue(replay.replay());
        assertEquals(near, replay.verdict());
        // the same document from another offset: a re-ingest
        assertInstanceOf(DedupIndex.Reingested.class, index.apply(claim("a", "p0@7", a, h)).verdict());
        assertEquals(2, index.keptCount());
        assertTrue(index.bytes() / index.keptCount() < 4000, "bytes per kept document: " + index.bytes() / index.keptCount());

        // a document the filters rejected is judged once too: replayed, the same verdict; ingested again, nothing
        DedupClaim filtered = new DedupClaim("f", "f.txt", "p0@9", TextHash.of("short"), new int[0], 1,
                millrace.protocol.RejectReason.GOPHER_QUALITY);
        assertEquals(new DedupIndex.Filtered(millrace.protocol.RejectReason.GOPHER_QUALITY), index.apply(filtered).verdict());
        assertTrue(index.apply(filtered).replay());
        assertInstanceOf(DedupIndex.Reingested.class, index.apply(new DedupClaim("f", "f.txt", "p1@3", TextHash.of("short"),
                new int[0], 2, millrace.protocol.RejectReason.GOPHER_QUALITY)).verdict());
        assertEquals(2, index.keptCount());
    }

    @Test
    void prefixFilteredGroundTruthEqualsBruteForce() {
        Random r = new Random(3);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 30; i++) texts.add(randomText(r, 50 + r.nextInt(100)));
        for (int i = 0; i < 60; i++) texts.add(edit(texts.get(r.nextInt(texts.size())), r.nextInt(8), r));
        List<long[]> sets = texts.stream().map(t -> MinHasher.shingleHashes(t, 5)).toList();
        JaccardJoin.Truth truth = JaccardJoin.greedy(sets, 0.8);
        List<Integer> kept = new ArrayList<>();
        for (int x = 0; x < sets.size(); x++) {
            int best = -1;
            double bestSim = -1;
            for (int y : kept) {
                double j = JaccardJoin.jaccard(sets.get(x), sets.get(y));
                if (j >= 0.8 && j > bestSim) {
                    best = y;
                    bestSim = j;
                }
            }
            assertEquals(best, truth.duplicateOf()[x], "document " + x);
            if (best < 0) kept.add(x);
        }
    }
}
