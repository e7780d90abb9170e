package millrace.ingest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import millrace.protocol.Document;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;

/**
 * Turns one plain-text or Markdown file into a {@link Document}, or into a {@link Rejection} that says why not:
 * unreadable, too large, binary, not UTF-8, or empty. Never throws for bad input.
 */
public final class TextFileReader {
    public static final long DEFAULT_MAX_BYTES = 64L * 1024 * 1024;

    /** What reading a file gave. */
    public sealed interface Result permits Read, Refused {}

    public record Read(Document document) implements Result {}

    public record Refused(Rejection rejection) implements Result {}

    private final long maxBytes;

    public TextFileReader(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    public static boolean isTextFile(Path path) {
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".txt") || name.endsWith(".md") || name.endsWith(".markdown");
    }

    public Result read(Path path) {
        String source = path.toAbsolutePath().normalize().toString();
        byte[] bytes;
        if (!Files.isRegularFile(path)) {
            return refuse(source, RejectReason.UNREADABLE, Files.exists(path) ? "not a regular file" : "does not exist");
        }
        try {
            long size = Files.size(path);
            if (size > maxBytes) {
                return refuse(source, RejectReason.TOO_LARGE, size + " bytes is over the cap of " + maxBytes);
            }
            bytes = Files.readAllBytes(path);
        } catch (IOException | SecurityException e) {
            return refuse(source, RejectReason.UNREADABLE, e.getClass().getSimpleName() + ": " + e.getMessage());
        }
        if (looksBinary(bytes)) return refuse(source, RejectReason.BINARY, "NUL or control bytes in the first 8 KiB");
        String text;
        try {
            text = decodeStrictUtf8(bytes);
        } catch (InvalidUtf8Exception e) {
            return refuse(source, RejectReason.INVALID_UTF8, e.getMessage());
        }
        if (text.startsWith("\uFEFF")) text = text.substring(1);
        if (text.isBlank()) return refuse(source, RejectReason.EMPTY, "no text (" + bytes.length + " bytes)");
        String name = path.getFileName().toString();
        String lower = name.toLowerCase(Locale.ROOT);
        String contentType = lower.endsWith(".md") || lower.endsWith(".markdown") ? "text/markdown" : "text/plain";
        String title = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name;
        Document doc = new Document(DocumentIds.of(source, text), source, title, text, contentType, null,
                System.currentTimeMillis(), Map.of("bytes", Integer.toString(bytes.length)), null);
        return new Read(doc);
    }

    private static Refused refuse(String source, RejectReason reason, String detail) {
        return new Refused(new Rejection(DocumentIds.of(source, ""), source, "ingest", reason, detail, null,
                System.currentTimeMillis()));
    }

    /** A NUL byte, or more than 10% control characters other than whitespace, in the first 8 KiB. */
    static boolean looksBinary(byte[] bytes) {
        int n = Math.min(bytes.length, 8192);
        int control = 0;
        for (int i = 0; i < n; i++) {
            int b = bytes[i] & 0xFF;
            if (b == 0) return true;
            if (b < 0x20 && b != '\n' && b != '\r' && b != '\t' && b != '\f') control++;
        }
        return n > 0 && control * 10 > n;
    }

    /** Decodes UTF-8, failing on the first malformed sequence (the JDK's default silently replaces it). */
    static String decodeStrictUtf8(byte[] bytes) throws InvalidUtf8Exception {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        try {
            return decoder.decode(in).toString();
        } catch (CharacterCodingException e) {
            throw new InvalidUtf8Exception(in.position());
        }
    }

    /** Bytes that are not UTF-8, with the offset of the first bad byte. */
    static final class InvalidUtf8Exception extends Exception {
        final long offset;

        InvalidUtf8Exception(long offset) {
            super("invalid UTF-8 at byte " + offset);
            this.offset = offset;
        }
    }
}
