package millrace.dedup;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import millrace.protocol.DedupClaim;
import millrace.protocol.RejectReason;

/**
 * The dedup decision, as a deterministic function of the claim log: claims are applied in log order, the first
 * document with a text (exact hash) or a near text (MinHash LSH candidate whose signature agrees enough) is kept,
 * later ones are duplicates of it. Every replica that replays the same log reaches the same verdicts, which is what
 * lets several dedup replicas catch every pair one replica would.
 *
 * <p>Memory per kept document: its signature ({@code 4 × permutations} bytes), one slot per band in the band tables
 * and one chain link per band, its id and source; per claim, the verdict and its input position. {@link #bytes()}
 * estimates it; the benchmark prints it per kept document.
 */
public final class DedupIndex {

    /** The kept document a duplicate duplicates. */
    public record Original(String docId, String source) {}

    /** What a claim was judged to be. */
    public sealed interface Verdict permits Kept, ExactDuplicate, NearDuplicate, Reingested, Filtered {}

    public record Kept() implements Verdict {}

    public record ExactDuplicate(Original original) implements Verdict {}

    public record NearDuplicate(Original original, double similarity) implements Verdict {}

    /** The quality filters rejected it (its claim says which): it is not in the index. */
    public record Filtered(RejectReason reason) implements Verdict {}

    /** This document (same id) was claimed before from another input position: a re-ingest, which adds nothing. */
    public record Reingested() implements Verdict {}

    /**
     * @param verdict the verdict
     * @param replay true when the same input was claimed before (a replay after a crash): the verdict is the first
     *     claim's, so the outputs it leads to are the same
     */
    public record Judgement(Verdict verdict, boolean replay) {}

    private record Claimed(String input, Verdict verdict) {}

    private final NearDuplicateSettings settings;
    private final List<String> keptIds = new ArrayList<>();
    private final List<String> keptSources = new ArrayList<>();
    private final List<int[]> keptSignatures = new ArrayList<>();
    private final LongIntMap exact = new LongIntMap();
    private final LongIntMap[] bandHeads;
    /** bandNext[b][ref]: the kept document before {@code ref} in the same bucket of band b, or -1. */
    private final int[][] bandNext;
    private final Map<String, Claimed> claims = new HashMap<>();
    private long claimBytes;

    public DedupIndex(NearDuplicateSettings settings) {
        this.settings = settings;
        this.bandHeads = new LongIntMap[settings.bands()];
        this.bandNext = new int[settings.bands()][16];
        for (int b = 0; b < settings.bands(); b++) bandHeads[b] = new LongIntMap();
    }

    public Judgement apply(DedupClaim claim) {
        Claimed prior = claims.get(claim.docId());
        if (prior != null) {
            return prior.input().equals(claim.input()) ? new Judgement(prior.verdict(), true)
                    : new Judgement(new Reingested(), false);
        }
        if (claim.filtered() != null) {
            Verdict verdict = new Filtered(claim.filtered());
            claims.put(claim.docId(), new Claimed(claim.input(), verdict));
            claimBytes += 120 + 2L * (claim.docId().length() + claim.input().length());
            return new Judgement(verdict, false);
        }
        if (claim.signature().length != settings.permutations()) {
            throw new IllegalArgumentException("claim " + claim.docId() + " has a signature of "
                    + claim.signature().length + " permutations, the index expects " + settings.permutations());
        }
        long hash = HexFormat.fromHexDigitsToLong(claim.textHash().substring(0, 16));
        Verdict verdict = judge(hash, claim.signature());
        if (verdict instanceof Kept) keep(claim, hash);
        claims.put(claim.docId(), new Claimed(claim.input(), verdict));
        claimBytes += 120 + 2L * (claim.docId().length() + claim.input().length());
        return new Judgement(verdict, false);
    }

    private Verdict judge(long textHash, int[] signature) {
        int same = exact.get(textHash);
        if (same >= 0) return new ExactDuplicate(original(same));
        long[] keys = bandKeys(signature);
        int best = -1;
        double bestSimilarity = -1;
        for (int b = 0; b < keys.length; b++) {
            for (int ref = bandHeads[b].get(keys[b]); ref >= 0; ref = bandNext[b][ref]) {
                if (ref == best) continue;
                double s = MinHasher.similarity(signature, keptSignatures.get(ref));
                if (s > bestSimilarity || (s == bestSimilarity && ref < best)) {
                    best = ref;
                    bestSimilarity = s;
                }
            }
        }
        if (best >= 0 && bestSimilarity >= settings.threshold()) return new NearDuplicate(original(best), bestSimilarity);
        return new Kept();
    }

    private void keep(DedupClaim claim, long textHash) {
        int ref = keptIds.size();
        keptIds.add(claim.docId());
        keptSources.add(claim.source());
        keptSignatures.add(claim.signature());
        exact.put(textHash, ref);
        long[] keys = bandKeys(claim.signature());
        for (int b = 0; b < keys.length; b++) {
            if (ref >= bandNext[b].length) bandNext[b] = Arrays.copyOf(bandNext[b], bandNext[b].length * 2);
            bandNext[b][ref] = bandHeads[b].get(keys[b]);
            bandHeads[b].put(keys[b], ref);
        }
    }

    private Original original(int ref) {
        return new Original(keptIds.get(ref), keptSources.get(ref));
    }

    /** One 64-bit key per band: a hash of the band's rows and its index. */
    long[] bandKeys(int[] signature) {
        long[] keys = new long[settings.bands()];
        for (int b = 0; b < keys.length; b++) {
            long h = 0x9E3779B97F4A7C15L * (b + 1);
            for (int r = b * settings.rows(); r < (b + 1) * settings.rows(); r++) h = MinHasher.mix64(h ^ signature[r]);
            keys[b] = h;
        }
        return keys;
    }

    public int keptCount() {
        return keptIds.size();
    }

    public int claimCount() {
        return claims.size();
    }

    /** An estimate of the heap this index holds. */
    public long bytes() {
        long kept = 0;
        for (int i = 0; i < keptIds.size(); i++) {
            kept += 16 + 4L * settings.permutations() // signature array
                    + 40 + 2L * keptIds.get(i).length() + 40 + 2L * keptSources.get(i).length() + 16;
        }
        long bands = exact.bytes();
        for (int b = 0; b < bandHeads.length; b++) bands += bandHeads[b].bytes() + 4L * bandNext[b].length;
        return kept + bands + claimBytes;
    }
}
