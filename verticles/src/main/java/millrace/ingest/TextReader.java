package millrace.ingest;

import millrace.protocol.DocumentIds;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import java.util.function.Consumer;
import millrace.protocol.Document;
import millrace.protocol.RejectReason;

/** A plain-text, Markdown or reStructuredText file (optionally gzipped) is one document: strict UTF-8, not binary, not blank. */
final class TextReader implements DocumentReader {
    private final long maxBytes;

    TextReader(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    @Override
    public void read(Input input, InputStream in, Consumer<ReadResult> out) throws IOException {
        byte[] bytes = Decoding.readCapped(in, maxBytes);
        if (Decoding.looksBinary(bytes)) {
            out.accept(ReadResult.refuse(input.idKey(), input.source(), RejectReason.BINARY,
                    "NUL or control bytes in the first 8 KiB"));
            return;
        }
        String text;
        try {
            text = Decoding.strictUtf8(bytes);
        } catch (Decoding.InvalidUtf8Exception e) {
            out.accept(ReadResult.refuse(input.idKey(), input.source(), RejectReason.INVALID_UTF8, e.getMessage()));
            return;
        }
        if (text.isBlank()) {
            out.accept(ReadResult.refuse(input.idKey(), input.source(), RejectReason.EMPTY,
                    "no text (" + bytes.length + " bytes)"));
            return;
        }
        String base = input.baseName();
        String type = base.endsWith(".md") || base.endsWith(".markdown") ? "text/markdown"
                : base.endsWith(".rst") ? "text/x-rst" : "text/plain";
        out.accept(new ReadResult.Read(new Document(DocumentIds.of(input.idKey(), text), input.source(),
                Readers.titleOf(input), text, type, null, System.currentTimeMillis(),
                Map.of("bytes", Integer.toString(bytes.length)), null)));
    }
}
