package millrace.ingest;

import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;

/**
 * One thing to read: a file or a fetched URL.
 *
 * @param source what the documents it yields name as their source (absolute path or URL)
 * @param idKey what their ids hash with their text: the path relative to the ingest root's parent (or the URL), so
 *     that the same corpus ingested from another checkout gets the same ids, and so the same train/validation split
 * @param name the file name (or URL path) whose extension chooses the reader
 * @param contentType the MIME type a server declared, or null
 * @param opener opens the bytes; each call starts from the beginning
 */
public record Input(String source, String idKey, String name, String contentType, Opener opener) {

    /** Opens the input's bytes. */
    @FunctionalInterface
    public interface Opener {
        InputStream open() throws IOException;
    }

    /** The lower-case name without a trailing {@code .gz}. */
    public String baseName() {
        String n = name.toLowerCase(Locale.ROOT);
        return n.endsWith(".gz") ? n.substring(0, n.length() - 3) : n;
    }

    public boolean gzipped() {
        return name.toLowerCase(Locale.ROOT).endsWith(".gz");
    }
}
