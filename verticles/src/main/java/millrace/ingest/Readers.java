package millrace.ingest;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;
import millrace.protocol.RejectReason;

/**
 * Chooses the reader for an input (by declared content type, else by extension), opens it (un-gzipping where the
 * name ends in {@code .gz}) and turns whole-input failures into rejections. Never throws for bad input.
 */
public final class Readers {

    /**
     * @param maxBytes cap on one document's bytes (a file, a JSON line, a WARC response body)
     * @param textField the JSON Lines field that holds the text
     * @param idField the JSON Lines field that identifies a record (its line number is used where absent)
     */
    public record Settings(long maxBytes, String textField, String idField) {
        public static final Settings DEFAULT = new Settings(64L * 1024 * 1024, "text", "id");

        public Settings {
            if (maxBytes < 1) throw new IllegalArgumentException("maxBytes must be positive");
        }
    }

    /** File extensions (before an optional {@code .gz}) with a reader. */
    public static final List<String> EXTENSIONS =
            List.of(".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".xhtml", ".jsonl", ".ndjson", ".warc");

    private final DocumentReader text;
    private final DocumentReader html;
    private final DocumentReader jsonl;
    private final DocumentReader warc;

    public Readers(Settings settings) {
        this.text = new TextReader(settings.maxBytes());
        this.html = new HtmlReader(settings.maxBytes());
        this.jsonl = new JsonlReader(settings.maxBytes(), settings.textField(), settings.idField());
        this.warc = new WarcFileReader(settings.maxBytes());
    }

    public static boolean supports(String fileName) {
        String n = fileName.toLowerCase(Locale.ROOT);
        if (n.endsWith(".gz")) n = n.substring(0, n.length() - 3);
        for (String ext : EXTENSIONS) if (n.endsWith(ext)) return true;
        return false;
    }

    /** Reads one input, sending every document and rejection to {@code out}. */
    public void read(Input input, Consumer<ReadResult> out) {
        DocumentReader reader = readerFor(input);
        if (reader == null) {
            out.accept(ReadResult.refuse(input.idKey(), input.source(), RejectReason.UNSUPPORTED,
                    "no reader for " + (input.contentType() != null ? input.contentType() : input.name())));
            return;
        }
        boolean unzip = input.gzipped() && reader != warc; // jwarc finds gzip members itself
        try (InputStream raw = input.opener().open();
             InputStream in = unzip ? new GZIPInputStream(raw, 1 << 16) : raw) {
            reader.read(input, in, out);
        } catch (Decoding.TooLargeException e) {
            out.accept(ReadResult.refuse(input.idKey(), input.source(), RejectReason.TOO_LARGE, e.getMessage()));
        } catch (EOFException | ZipException e) {
            out.accept(ReadResult.refuse(input.idKey(), input.source(), RejectReason.TRUNCATED,
                    "compressed stream ends early or is corrupt: " + e.getMessage()));
        } catch (IOException | SecurityException e) {
            out.accept(ReadResult.refuse(input.idKey(), input.source(), RejectReason.UNREADABLE,
                    e.getClass().getSimpleName() + ": " + e.getMessage()));
        }
    }

    private DocumentReader readerFor(Input input) {
        String type = input.contentType() == null ? "" : input.contentType().toLowerCase(Locale.ROOT);
        if (type.startsWith("text/html") || type.startsWith("application/xhtml")) return html;
        if (type.startsWith("application/warc")) return warc;
        if (type.contains("jsonl") || type.contains("ndjson") || type.contains("json-seq")) return jsonl;
        String n = input.baseName();
        if (n.endsWith(".txt") || n.endsWith(".md") || n.endsWith(".markdown") || n.endsWith(".rst")) return text;
        if (n.endsWith(".html") || n.endsWith(".htm") || n.endsWith(".xhtml")) return html;
        if (n.endsWith(".jsonl") || n.endsWith(".ndjson")) return jsonl;
        if (n.endsWith(".warc")) return warc;
        if (type.startsWith("text/plain")) return text;
        return null;
    }

    /** A file's name without its extensions, the title of a text document. */
    static String titleOf(Input input) {
        String n = input.name();
        int slash = n.lastIndexOf('/');
        if (slash >= 0) n = n.substring(slash + 1);
        if (n.toLowerCase(Locale.ROOT).endsWith(".gz")) n = n.substring(0, n.length() - 3);
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }
}
