package millrace.ingest;

import millrace.protocol.DocumentIds;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.ZipException;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import millrace.protocol.RejectReason;

/**
 * JSON Lines (optionally gzipped), the layout of Hugging Face dataset dumps: one object per line, the text in a
 * configurable field. Streams line by line with a cap per line, so a 10 GB file never sits in memory. A bad line
 * is rejected with its line number and the rest of the file is read; a gzip stream that ends early is rejected as
 * truncated after the last whole line.
 */
final class JsonlReader implements DocumentReader {
    private final long maxLineBytes;
    private final String textField;
    private final String idField;

    JsonlReader(long maxLineBytes, String textField, String idField) {
        this.maxLineBytes = maxLineBytes;
        this.textField = textField;
        this.idField = idField;
    }

    @Override
    public void read(Input input, InputStream raw, Consumer<ReadResult> out) throws IOException {
        InputStream in = new BufferedInputStream(raw, 1 << 16);
        LineBuffer line = new LineBuffer();
        long lineNo = 0;
        while (true) {
            boolean more;
            try {
                more = line.next(in);
            } catch (EOFException | ZipException e) {
                out.accept(ReadResult.refuse(input.idKey() + ":truncated", input.source(), RejectReason.TRUNCATED,
                        "compressed stream ends early after line " + lineNo + ": " + e.getMessage()));
                return;
            }
            if (!more) return;
            lineNo++;
            String key = input.idKey() + ":" + lineNo;
            String where = input.source() + ":" + lineNo;
            if (line.overflowed) {
                out.accept(ReadResult.refuse(key, where, RejectReason.TOO_LARGE,
                        "line " + lineNo + " is longer than the cap of " + maxLineBytes + " bytes"));
                continue;
            }
            if (line.isBlank()) continue;
            out.accept(parse(line.bytes(), line.length(), key, where, lineNo));
        }
    }

    private ReadResult parse(byte[] bytes, int length, String key, String where, long lineNo) {
        String json;
        try {
            json = Decoding.strictUtf8(bytes, 0, length);
        } catch (Decoding.InvalidUtf8Exception e) {
            return ReadResult.refuse(key, where, RejectReason.INVALID_UTF8, "line " + lineNo + ": " + e.getMessage());
        }
        JsonNode node;
        try {
            node = JsonSerde.MAPPER.readTree(json);
        } catch (IOException e) {
            return ReadResult.refuse(key, where, RejectReason.MALFORMED_JSON,
                    "line " + lineNo + ": " + e.getMessage().lines().findFirst().orElse("not JSON"));
        }
        if (node == null || !node.isObject()) {
            return ReadResult.refuse(key, where, RejectReason.MALFORMED_JSON, "line " + lineNo + ": not a JSON object");
        }
        JsonNode text = node.get(textField);
        if (text == null || !text.isTextual()) {
            return ReadResult.refuse(key, where, RejectReason.MALFORMED_JSON,
                    "line " + lineNo + ": no string field \"" + textField + "\"");
        }
        if (text.asText().isBlank()) {
            return ReadResult.refuse(key, where, RejectReason.EMPTY, "line " + lineNo + ": \"" + textField + "\" is blank");
        }
        JsonNode id = node.get(idField);
        String idKey = id != null && id.isValueNode() && !id.asText().isEmpty()
                ? key.substring(0, key.lastIndexOf(':')) + "#" + id.asText() : key;
        JsonNode title = node.get("title");
        Map<String, String> meta = new HashMap<>();
        meta.put("line", Long.toString(lineNo));
        if (id != null && id.isValueNode()) meta.put("id", id.asText());
        JsonNode url = node.get("url");
        if (url != null && url.isTextual()) meta.put("url", url.asText());
        return new ReadResult.Read(new Document(DocumentIds.of(idKey, text.asText()), where,
                title != null && title.isTextual() ? title.asText() : "", text.asText(), "application/jsonl", null,
                System.currentTimeMillis(), meta, null));
    }

    /** One line's bytes (without its newline); a line over the cap is skipped to its end and flagged. */
    private final class LineBuffer extends ByteArrayOutputStream {
        boolean overflowed;

        /** Reads the next line; false at the end of the input. */
        boolean next(InputStream in) throws IOException {
            reset();
            overflowed = false;
            int b;
            boolean any = false;
            while ((b = in.read()) != -1) {
                any = true;
                if (b == '\n') break;
                if (count >= maxLineBytes) {
                    overflowed = true;
                } else {
                    write(b);
                }
            }
            if (count > 0 && buf[count - 1] == '\r') count--;
            return any;
        }

        byte[] bytes() {
            return buf;
        }

        int length() {
            return count;
        }

        boolean isBlank() {
            for (int i = 0; i < count; i++) if (!Character.isWhitespace(buf[i])) return false;
            return true;
        }
    }
}
