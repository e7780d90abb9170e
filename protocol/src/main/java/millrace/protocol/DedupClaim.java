package millrace.protocol;

/**
 * A record on {@code millrace.dedup.claims}: a document that passed the quality filters asks to be kept, or one that
 * failed them is recorded as judged ({@code filtered}), so that the same document ingested again (an ingest restarted
 * half-way through a file sends it twice) gets no second verdict. The claim
 * log has one partition, so its order is the one global "first seen" order; every dedup replica replays it through
 * the same deterministic index and so reaches the same verdict for every claim, whichever replica wrote it.
 *
 * @param docId the document's id
 * @param source the document's source (reported as {@code duplicate_of} of later duplicates)
 * @param input where the document was read: {@code topic-partition@offset}. A replay after a crash re-claims with the
 *     same input and gets the first claim's verdict; a re-ingest of the same document comes from another offset
 * @param textHash hex SHA-256 of the normalized text (exact duplicates)
 * @param signature the MinHash signature over word shingles (near duplicates); its length is the permutation count
 * @param claimedAtMillis when
 * @param filtered the filter that rejected the document (then {@code signature} is empty), or null for a claim to be
 *     kept (absent in claims written before filtered documents were recorded)
 */
public record DedupClaim(String docId, String source, String input, String textHash, int[] signature,
        long claimedAtMillis, RejectReason filtered) {
    public DedupClaim {
        Check.text("docId", docId);
        Check.text("source", source);
        Check.text("input", input);
        Check.text("textHash", textHash);
        Check.present("signature", signature);
        Check.nonNegative("claimedAtMillis", claimedAtMillis);
    }

    /** A claim to be kept. */
    public DedupClaim(String docId, String source, String input, String textHash, int[] signature, long claimedAtMillis) {
        this(docId, source, input, textHash, signature, claimedAtMillis, null);
    }
}
