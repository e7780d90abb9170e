package millrace.protocol;

/**
 * Why a document (or an input that never became one) left the pipeline; written to {@code millrace.docs.rejected}.
 * No document is ever dropped silently.
 *
 * @param docId the document id, or for unreadable input an id derived from its source
 * @param source file path or URL
 * @param stage the stage that rejected it ({@code ingest}, {@code dedup}, ...)
 * @param reason a reason code from {@link RejectReason}
 * @param detail human explanation (for duplicates: the id and source of the kept document)
 * @param duplicateOf for duplicates, the source of the kept document; else null
 * @param rejectedAtMillis when
 */
public record Rejection(
        String docId, String source, String stage, RejectReason reason, String detail, String duplicateOf,
        long rejectedAtMillis) {

    public Rejection {
        Check.text("docId", docId);
        Check.text("source", source);
        Check.text("stage", stage);
        Check.present("reason", reason);
        detail = detail == null ? "" : detail;
        Check.nonNegative("rejectedAtMillis", rejectedAtMillis);
    }
}
