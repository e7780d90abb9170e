package millrace.dedup;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Replaces e-mail addresses and public IPv4 addresses in clean text (datatrove's PIIFormatter does the same): an
 * address becomes {@code email@example.com}, an IP the documentation address {@code 192.0.2.1} (RFC 5737). Private,
 * loopback, link-local and reserved IPs are not personal and stay; so do version-like strings such as 1.2.3.4.5.
 */
public final class PiiRedactor {
    public static final String EMAIL_REPLACEMENT = "email@example.com";
    public static final String IP_REPLACEMENT = "192.0.2.1";

    private static final Pattern EMAIL = Pattern.compile(
            "(?<![\\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,24}(?![\\w-])");
    private static final Pattern IPV4 = Pattern.compile(
            "(?<![\\w.])(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\."
                    + "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?![\\w]|\\.\\d)");

    /** The text with addresses replaced, and how many of each. */
    public record Redacted(String text, int emails, int ips) {}

    public Redacted redact(String text) {
        int[] emails = {0};
        int[] ips = {0};
        String out = text;
        if (out.indexOf('@') >= 0) {
            out = EMAIL.matcher(out).replaceAll(m -> {
                emails[0]++;
                return EMAIL_REPLACEMENT;
            });
        }
        Matcher m = IPV4.matcher(out);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            int[] o = new int[4];
            for (int i = 0; i < 4; i++) o[i] = Integer.parseInt(m.group(i + 1));
            if (isPublic(o)) {
                ips[0]++;
                m.appendReplacement(sb, IP_REPLACEMENT);
            }
        }
        m.appendTail(sb);
        return new Redacted(sb.toString(), emails[0], ips[0]);
    }

    static boolean isPublic(int[] o) {
        if (o[0] == 0 || o[0] == 10 || o[0] == 127 || o[0] >= 224) return false; // this-network, private, loopback, multicast/reserved
        if (o[0] == 169 && o[1] == 254) return false; // link-local
        if (o[0] == 172 && o[1] >= 16 && o[1] <= 31) return false;
        if (o[0] == 192 && o[1] == 168) return false;
        if (o[0] == 100 && o[1] >= 64 && o[1] <= 127) return false; // carrier-grade NAT
        if (o[0] == 192 && o[1] == 0 && o[2] == 2) return false; // documentation ranges
        if (o[0] == 198 && o[1] == 51 && o[2] == 100) return false;
        if (o[0] == 203 && o[1] == 0 && o[2] == 113) return false;
        return true;
    }
}
