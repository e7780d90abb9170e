package millrace.ingest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Byte-level checks shared by the readers: bounded reads, binary sniffing, strict UTF-8. */
final class Decoding {
    private Decoding() {}

    /** Bytes over the cap: the reader rejects the input as too large without holding more than the cap. */
    static final class TooLargeException extends IOException {
        TooLargeException(long cap) {
            super("more than the cap of " + cap + " bytes");
        }
    }

    /** Bytes that are not UTF-8, with the offset of the first bad byte. */
    static final class InvalidUtf8Exception extends Exception {
        InvalidUtf8Exception(long offset) {
            super("invalid UTF-8 at byte " + offset);
        }
    }

    /** Reads everything, or throws {@link TooLargeException} as soon as more than {@code cap} bytes arrive. */
    static byte[] readCapped(InputStream in, long cap) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[64 * 1024];
        long total = 0;
        for (int n; (n = in.read(buf)) > 0; ) {
            total += n;
            if (total > cap) throw new TooLargeException(cap);
            out.write(buf, 0, n);
        }
        return out.toByteArray();
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
    static String strictUtf8(byte[] bytes, int offset, int length) throws InvalidUtf8Exception {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, offset, length);
        try {
            String s = decoder.decode(in).toString();
            return s.startsWith("\uFEFF") ? s.substring(1) : s;
        } catch (CharacterCodingException e) {
            throw new InvalidUtf8Exception(in.position() - offset);
        }
    }

    static String strictUtf8(byte[] bytes) throws InvalidUtf8Exception {
        return strictUtf8(bytes, 0, bytes.length);
    }
}
