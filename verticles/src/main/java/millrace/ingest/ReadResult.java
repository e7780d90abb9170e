package millrace.ingest;

import millrace.protocol.DocumentIds;
import millrace.protocol.Document;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;

/** What a reader made of (part of) an input: a document, or a rejection that says why not. */
public sealed interface ReadResult permits ReadResult.Read, ReadResult.Refused {

    record Read(Document document) implements ReadResult {}

    record Refused(Rejection rejection) implements ReadResult {}

    /** A rejection by the ingest stage; {@code key} identifies the refused part (a file, a line, a record). */
    static Refused refuse(String key, String source, RejectReason reason, String detail) {
        return new Refused(new Rejection(DocumentIds.of(key, ""), source, "ingest", reason, detail, null,
                System.currentTimeMillis()));
    }
}
