package millrace.protocol;

/** Reason codes on {@code millrace.docs.rejected}; also the {@code reason} label of the rejection counters. */
public enum RejectReason {
    /** The input could not be read (permissions, I/O error). */
    UNREADABLE,
    /** Bytes that are not valid UTF-8 text. */
    INVALID_UTF8,
    /** Looks like a binary file (NUL bytes, control characters). */
    BINARY,
    /** Nothing but whitespace. */
    EMPTY,
    /** Larger than the configured size cap. */
    TOO_LARGE,
    /** A record on a topic that is not a valid protocol payload. */
    MALFORMED,
    /** Same normalized text as a document kept before it. */
    EXACT_DUPLICATE;

    /** The Prometheus label value. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
