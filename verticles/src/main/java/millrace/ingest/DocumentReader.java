package millrace.ingest;

import java.io.IOException;
import java.io.InputStream;
import java.util.function.Consumer;

/**
 * Turns the bytes of one input into documents and rejections. Bad content is reported through {@code out}; an
 * {@link IOException} (a read error, a gzip stream that ends early, more bytes than the cap) is reported by
 * {@link Readers} for the whole input, after whatever was already emitted.
 */
interface DocumentReader {
    void read(Input input, InputStream in, Consumer<ReadResult> out) throws IOException;
}
