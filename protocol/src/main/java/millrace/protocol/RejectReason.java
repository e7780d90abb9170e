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
    /** A JSON line that does not parse, or lacks the configured text field (the detail names the line). */
    MALFORMED_JSON,
    /** A gzip stream or WARC record that ends early. */
    TRUNCATED,
    /** A content type no reader handles (an image in a WARC, a PDF behind a URL). */
    UNSUPPORTED,
    /** Same normalized text as a document kept before it. */
    EXACT_DUPLICATE,
    /** MinHash-similar (estimated Jaccard over word shingles at or above the threshold) to a document kept before it. */
    NEAR_DUPLICATE,
    /** Fails a Gopher quality rule (word counts and lengths, symbols, bullets, ellipses, stop words). */
    GOPHER_QUALITY,
    /** Fails a Gopher repetition rule (duplicate lines, paragraphs or n-grams). */
    GOPHER_REPETITION,
    /** Fails a C4 rule (too few sentences after line cleaning, lorem ipsum, curly braces). */
    C4_QUALITY,
    /** Its identified language is not on the allow-list (or identification is not confident enough). */
    LANGUAGE;

    /** The Prometheus label value. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
