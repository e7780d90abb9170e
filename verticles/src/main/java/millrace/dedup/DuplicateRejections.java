package millrace.dedup;

import millrace.protocol.Document;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;

/** The rejection of a duplicate: the id and source of the kept document it duplicates, and how similar. */
final class DuplicateRejections {
    private DuplicateRejections() {}

    static Rejection of(Document doc, DedupIndex.Verdict verdict) {
        if (verdict instanceof DedupIndex.ExactDuplicate d) {
            return new Rejection(doc.id(), doc.source(), "dedup", RejectReason.EXACT_DUPLICATE,
                    "same normalized text as " + d.original().docId() + " (" + d.original().source() + ")",
                    d.original().source(), System.currentTimeMillis());
        }
        if (verdict instanceof DedupIndex.NearDuplicate d) {
            return new Rejection(doc.id(), doc.source(), "dedup", RejectReason.NEAR_DUPLICATE,
                    String.format("estimated Jaccard %.3f with %s (%s)", d.similarity(), d.original().docId(),
                            d.original().source()), d.original().source(), System.currentTimeMillis());
        }
        throw new IllegalArgumentException("not a duplicate: " + verdict);
    }
}
