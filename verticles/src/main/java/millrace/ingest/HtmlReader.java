package millrace.ingest;

import millrace.protocol.DocumentIds;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.Consumer;
import millrace.protocol.Document;
import millrace.protocol.RejectReason;
import org.jsoup.Jsoup;

/** An HTML page is one document: its main content, as {@link HtmlExtractor} extracts it. */
final class HtmlReader implements DocumentReader {
    private final long maxBytes;

    HtmlReader(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    @Override
    public void read(Input input, InputStream in, Consumer<ReadResult> out) throws IOException {
        byte[] bytes = Decoding.readCapped(in, maxBytes);
        out.accept(fromBytes(input.idKey(), input.source(), bytes, Map.of()));
    }

    /** Also used for the HTTP responses in WARC files. */
    static ReadResult fromBytes(String idKey, String source, byte[] bytes, Map<String, String> metadata) {
        if (Decoding.looksBinary(bytes)) {
            return ReadResult.refuse(idKey, source, RejectReason.BINARY, "NUL or control bytes in the first 8 KiB");
        }
        org.jsoup.nodes.Document page;
        try {
            page = Jsoup.parse(Decoding.strictUtf8(bytes), source);
        } catch (Decoding.InvalidUtf8Exception e) {
            // not UTF-8: acceptable only when the page says which charset it is in
            try {
                page = Jsoup.parse(new ByteArrayInputStream(bytes), null, source);
            } catch (IOException io) {
                return ReadResult.refuse(idKey, source, RejectReason.UNREADABLE, io.getMessage());
            }
            if (page.charset().equals(StandardCharsets.UTF_8)) {
                return ReadResult.refuse(idKey, source, RejectReason.INVALID_UTF8,
                        e.getMessage() + " and no other charset declared");
            }
        }
        HtmlExtractor.Extracted extracted = HtmlExtractor.extract(page);
        if (extracted.text().isBlank()) {
            return ReadResult.refuse(idKey, source, RejectReason.EMPTY,
                    "no main-content text in " + bytes.length + " bytes of HTML");
        }
        Map<String, String> meta = new java.util.HashMap<>(metadata);
        meta.put("bytes", Integer.toString(bytes.length));
        return new ReadResult.Read(new Document(DocumentIds.of(idKey, extracted.text()), source, extracted.title(),
                extracted.text(), "text/html", null, System.currentTimeMillis(), meta, null));
    }
}
