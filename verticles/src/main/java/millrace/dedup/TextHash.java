package millrace.dedup;

import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.HexFormat;
import java.util.Locale;
import millrace.protocol.DocumentIds;

/**
 * The key of exact de-duplication: SHA-256 of the text in NFKC form, lower-cased, with whitespace runs collapsed, so
 * that Unicode form, case and layout do not make two copies of a text different.
 */
public final class TextHash {
    private TextHash() {}

    public static String normalize(String text) {
        String nfkc = Normalizer.isNormalized(text, Normalizer.Form.NFKC) ? text
                : Normalizer.normalize(text, Normalizer.Form.NFKC);
        StringBuilder out = new StringBuilder(nfkc.length());
        boolean space = false;
        for (int i = 0; i < nfkc.length(); i++) {
            char c = nfkc.charAt(i);
            if (Character.isWhitespace(c)) {
                space = !out.isEmpty();
            } else {
                if (space) out.append(' ');
                space = false;
                out.append(c);
            }
        }
        return out.toString().toLowerCase(Locale.ROOT);
    }

    public static String of(String text) {
        return HexFormat.of().formatHex(DocumentIds.sha256().digest(normalize(text).getBytes(StandardCharsets.UTF_8)));
    }
}
