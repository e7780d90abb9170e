package millrace.sft;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import millrace.raters.RaterTokens;

/**
 * A small instruction set from real, installable data: the GNU Collaborative International Dictionary of English
 * (Debian's {@code dict-gcide}, Webster's 1913 and more). Each headword becomes "What does the word "lamp" mean?" →
 * the first sense of its first entry, cleaned of markup, etymology and citations, and cut to one short sentence. A fixed
 * share of words — chosen by a hash of the word, so the split never moves — is held out for evaluation.
 */
public final class GcideInstructions {
    /** One instruction and its answer. */
    public record Entry(String word, String prompt, String response) {
        /** As a line of the {@code {"prompt", "response"}} JSON Lines {@code ./millrace sft} reads. */
        public String jsonLine() {
            return millrace.protocol.JsonSerde.MAPPER.createObjectNode().put("prompt", prompt).put("response", response).toString();
        }
    }

    private static final String B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    private static final Pattern WORD = Pattern.compile("[A-Za-z]{3,20}");
    private static final Pattern TAGS = Pattern.compile("\\[[^\\]]*(?:Webster|PJC|WordNet|Century|Obs\\.|R\\.)[^\\]]*\\]");
    private static final Pattern FIRST_SENSE = Pattern.compile("(?s)\\n\\s+1\\.\\s+(.+?)(?=\\n\\s*\\n|\\n\\s+2\\.|\\z)");
    private static final Pattern CITATION = Pattern.compile("--\\s*[A-Z][\\w. ]*");
    private static final int MAX_CHARS = 140;

    private GcideInstructions() {}

    /**
     * Every usable headword of a dictd dictionary ({@code .index} beside {@code .dict.dz}), in a fixed pseudo-random
     * order (by a hash of the word).
     */
    public static List<Entry> read(Path dictDz) throws IOException {
        Path index = Path.of(dictDz.toString().replaceAll("\\.dict(\\.dz)?$", ".index"));
        byte[] dict;
        try (InputStream in = new GZIPInputStream(Files.newInputStream(dictDz))) {
            dict = in.readAllBytes();
        }
        Map<String, long[]> first = new LinkedHashMap<>(); // word -> first entry's offset and length
        for (String line : Files.readAllLines(index, StandardCharsets.UTF_8)) {
            String[] f = line.split("\t");
            if (f.length != 3 || !WORD.matcher(f[0]).matches()) continue;
            first.putIfAbsent(f[0].toLowerCase(java.util.Locale.ROOT), new long[] {b64(f[1]), b64(f[2])});
        }
        List<Entry> out = new ArrayList<>();
        for (Map.Entry<String, long[]> e : first.entrySet()) {
            long[] at = e.getValue();
            if (at[0] + at[1] > dict.length) continue;
            String text = new String(dict, (int) at[0], (int) at[1], StandardCharsets.UTF_8);
            // a derived word ("suavely") is indexed into its root's entry ("Suave"): that definition is not its own
            String head = text.strip().split("[\\s\\\\]", 2)[0];
            if (!head.equalsIgnoreCase(e.getKey())) continue;
            String definition = definition(text);
            if (definition == null) continue;
            out.add(new Entry(e.getKey(), "What does the word \"" + e.getKey() + "\" mean?", definition));
        }
        out.sort(Comparator.comparing(x -> RaterTokens.sha256(x.word())));
        return out;
    }

    /** The entries whose answer has at most {@code maxWords} words: short answers a small model can learn to end. */
    public static List<Entry> read(Path dictDz, int maxWords) throws IOException {
        return read(dictDz).stream().filter(e -> e.response().split("\\s+").length <= maxWords).toList();
    }

    /** Whether a word is held out: {@code share} of words, by a hash of the word. */
    public static boolean heldOut(String word, double share) {
        long h = Long.parseUnsignedLong(RaterTokens.sha256("gcide:" + word).substring(0, 12), 16);
        return h % 10_000 < share * 10_000;
    }

    /** The first sense of an entry as one short plain sentence, or null when there is no clean one. */
    static String definition(String entry) {
        String text = TAGS.matcher(entry).replaceAll("");
        String sense;
        Matcher m = FIRST_SENSE.matcher(text);
        if (m.find()) {
            sense = m.group(1);
        } else {
            // no numbered senses: the definition follows the header line (and an etymology that runs over lines)
            String[] lines = text.split("\\n");
            int i = 1;
            boolean openBracket = lines[0].lastIndexOf('[') > lines[0].lastIndexOf(']');
            while (openBracket && i < lines.length) openBracket = !lines[i++].contains("]");
            StringBuilder b = new StringBuilder();
            for (; i < lines.length && !lines[i].isBlank(); i++) b.append(lines[i]).append(' ');
            sense = b.toString();
        }
        sense = CITATION.matcher(sense.replace("{", "").replace("}", "")).replaceAll("");
        sense = sense.replaceAll("\\s+", " ").strip();
        int dash = sense.indexOf(" --");
        if (dash > 0) sense = sense.substring(0, dash).replaceAll("[;,]\\s*$", ""); // "-- followed by that": a usage note
        if (sense.startsWith("(")) sense = sense.replaceFirst("^\\([^)]*\\)\\s*", ""); // a field label: (Bot.), (Med.)
        int stop = sense.indexOf(". ");
        if (stop > 0) sense = sense.substring(0, stop + 1);
        if (sense.length() > MAX_CHARS) {
            int cut = Math.max(sense.lastIndexOf(';', MAX_CHARS), sense.lastIndexOf(',', MAX_CHARS));
            if (cut < 20) return null;
            sense = sense.substring(0, cut) + ".";
        }
        if (!sense.endsWith(".")) sense = sense + ".";
        if (sense.length() < 12 || sense.contains("?") || sense.contains("[") || sense.contains("\\")
                || sense.startsWith("See ") || sense.startsWith("Same as") || sense.startsWith("Alt. of")
                || sense.startsWith("Obs.") || !Character.isUpperCase(sense.charAt(0))) {
            return null;
        }
        return sense;
    }

    private static long b64(String s) {
        long n = 0;
        for (char c : s.toCharArray()) n = n * 64 + B64.indexOf(c);
        return n;
    }
}
