package millrace.ingest;

import millrace.protocol.DocumentIds;
import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import millrace.protocol.Document;
import millrace.protocol.RejectReason;
import org.netpreserve.jwarc.HttpResponse;
import org.netpreserve.jwarc.MediaType;
import org.netpreserve.jwarc.WarcReader;
import org.netpreserve.jwarc.WarcRecord;
import org.netpreserve.jwarc.WarcResponse;

/**
 * WARC and WARC.gz (jwarc reads both): each HTTP response record with a 2xx status becomes a document, HTML through
 * {@link HtmlExtractor}, plain text as it is. Other responses (images, scripts, errors) are rejected as
 * unsupported; request, metadata and warcinfo records are not documents. The id key of a response is its target
 * URI, so the same page captured twice with the same text is one document. A record that ends early stops the file
 * with a {@code truncated} rejection naming its offset.
 */
final class WarcFileReader implements DocumentReader {
    private final long maxBytes;

    WarcFileReader(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    @Override
    public void read(Input input, InputStream in, Consumer<ReadResult> out) throws IOException {
        try (WarcReader warc = new WarcReader(in)) {
            while (true) {
                long offset = warc.position();
                Optional<WarcRecord> next;
                try {
                    next = warc.next();
                    if (next.isEmpty()) return;
                    if (next.get() instanceof WarcResponse response) out.accept(response(input, response, offset));
                } catch (IOException | RuntimeException e) {
                    out.accept(ReadResult.refuse(input.idKey() + "@" + offset, input.source() + "@" + offset,
                            RejectReason.TRUNCATED, "WARC record at byte " + offset + " is truncated or malformed: " + e));
                    return;
                }
            }
        }
    }

    private ReadResult response(Input input, WarcResponse response, long offset) throws IOException {
        String target = response.target();
        String where = input.source() + "@" + offset;
        Map<String, String> meta = Map.of("warc_file", input.source(), "warc_offset", Long.toString(offset));
        if (!response.contentType().base().equals(MediaType.HTTP)) {
            return ReadResult.refuse(target, target, RejectReason.UNSUPPORTED,
                    "not an HTTP response record (" + response.contentType() + ") at " + where);
        }
        HttpResponse http = response.http();
        if (http.status() < 200 || http.status() >= 300) {
            return ReadResult.refuse(target, target, RejectReason.UNSUPPORTED, "HTTP status " + http.status() + " at " + where);
        }
        String type = http.contentType().base().toString().toLowerCase(Locale.ROOT);
        byte[] body;
        try (InputStream stream = http.bodyDecoded().stream()) {
            body = Decoding.readCapped(stream, maxBytes);
        } catch (Decoding.TooLargeException e) {
            return ReadResult.refuse(target, target, RejectReason.TOO_LARGE, "response body " + e.getMessage() + " at " + where);
        }
        if (type.equals("text/html") || type.equals("application/xhtml+xml")) {
            return HtmlReader.fromBytes(target, target, body, meta);
        }
        if (type.equals("text/plain")) {
            String text;
            try {
                text = Decoding.strictUtf8(body);
            } catch (Decoding.InvalidUtf8Exception e) {
                return ReadResult.refuse(target, target, RejectReason.INVALID_UTF8, e.getMessage() + " at " + where);
            }
            if (text.isBlank()) return ReadResult.refuse(target, target, RejectReason.EMPTY, "blank body at " + where);
            return new ReadResult.Read(new Document(DocumentIds.of(target, text), target, "", text, "text/plain", null,
                    System.currentTimeMillis(), meta, null));
        }
        return ReadResult.refuse(target, target, RejectReason.UNSUPPORTED, "content type " + type + " at " + where);
    }
}
