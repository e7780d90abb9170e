package millrace.dedup;

import millrace.protocol.DedupClaim;
import millrace.protocol.Document;

/**
 * The dedup stage's logic without Kafka: the same screen and the same index, fed one document at a time in order.
 * Used by {@code millrace dedup --input} and the benchmark; the stage differs only in that its claims travel
 * through the claim log first.
 */
public final class LocalDedup {

    /** The outcome for one document. */
    public record Outcome(Document doc, String verdict, DedupIndex.Original duplicateOf, String reason, String detail,
            Document clean) {}

    private final DocumentScreen screen;
    private final DedupIndex index;
    private long sequence;

    public LocalDedup(DedupSettings settings) {
        this.screen = new DocumentScreen(settings);
        this.index = new DedupIndex(settings.nearDuplicates());
    }

    public Outcome judge(Document doc) {
        DocumentScreen.Screened screened = screen.screen(doc);
        if (screened instanceof DocumentScreen.Filtered f) {
            return new Outcome(doc, "rejected", null, f.reason().label(), f.detail(), null);
        }
        DocumentScreen.Candidate c = (DocumentScreen.Candidate) screened;
        DedupClaim claim = c.claim("local@" + sequence++);
        DedupIndex.Verdict v = index.apply(claim).verdict();
        if (v instanceof DedupIndex.Kept) return new Outcome(doc, "kept", null, null, null, screen.clean(c).clean());
        if (v instanceof DedupIndex.Reingested) return new Outcome(doc, "reingested", null, null, null, null);
        var r = DuplicateRejections.of(doc, v);
        DedupIndex.Original of = v instanceof DedupIndex.ExactDuplicate e ? e.original()
                : ((DedupIndex.NearDuplicate) v).original();
        return new Outcome(doc, "duplicate", of, r.reason().label(), r.detail(), null);
    }

    public DedupIndex index() {
        return index;
    }
}
