package millrace.tokenizer.jinja;

/**
 * What Jinja2's lexer does to a template's text before anything is rendered, with the settings transformers gives
 * chat templates ({@code trim_blocks}, {@code lstrip_blocks}, no {@code keep_trailing_newline}), applied to the source
 * itself: every line break becomes {@code \n}, one trailing line break is dropped, the whitespace that {@code -}, a
 * block's end and {@code lstrip_blocks} remove is removed, and the {@code -}/{@code +} markers go. Comments go too:
 * they render nothing. What is left has no whitespace control for Jinjava to apply, so Jinjava — whose own trimming
 * differs (it strips the spaces before a block even when text precedes them on the line, and knows no {@code +}) —
 * renders the text exactly as Jinja2 would.
 *
 * <p>It follows {@code jinja2/lexer.py} (3.1) rule by rule: a tag ends at the first end marker met at a token boundary
 * outside string literals with its brackets balanced; text before a {@code -} tag loses its trailing whitespace; text
 * before a block, comment or raw tag loses the whitespace after its last line break (or all of it at the start of a
 * line) unless the tag says {@code +}; a block or comment end swallows one following line break ({@code trim_blocks}),
 * or all following whitespace after {@code -}, or nothing after {@code +}. "Whitespace" is Python's ({@code \s}).
 */
final class Jinja2Whitespace {
    private final String source;
    private final String origin;
    private final StringBuilder out;
    private int pos;
    /** Whether the last token ended a line: {@code lstrip_blocks} then strips text with no line break of its own. */
    private boolean lineStarting = true;

    private Jinja2Whitespace(String source, String origin) {
        this.source = source;
        this.origin = origin;
        this.out = new StringBuilder(source.length());
    }

    /** {@code template} as Jinjava should read it; {@code origin} names it in errors. */
    static String apply(String template, String origin) {
        Jinja2Whitespace lexer = new Jinja2Whitespace(normalizeNewlines(template), origin);
        lexer.run();
        return lexer.out.toString();
    }

    /** Jinja2 splits the source at {@code \r\n}, {@code \r} and {@code \n}, drops a last empty line, joins with {@code \n}. */
    static String normalizeNewlines(String template) {
        String unified = template.replace("\r\n", "\n").replace('\r', '\n');
        return unified.endsWith("\n") ? unified.substring(0, unified.length() - 1) : unified;
    }

    private void run() {
        while (pos < source.length()) {
            int tag = nextTagStart(pos);
            if (tag < 0) {
                out.append(source, pos, source.length());
                return;
            }
            char kind = source.charAt(tag + 1); // '{' variable, '%' block, '#' comment
            char sign = tag + 2 < source.length() && (source.charAt(tag + 2) == '-' || source.charAt(tag + 2) == '+')
                    ? source.charAt(tag + 2) : 0;
            int rawBodyStart = kind == '%' ? rawBegin(tag + 2 + (sign == 0 ? 0 : 1)) : -1;
            out.append(stripBefore(source.substring(pos, tag), sign, kind != '{'));
            if (rawBodyStart >= 0) {
                raw(rawBodyStart);
            } else if (kind == '#') {
                comment(tag + 2 + (sign == 0 ? 0 : 1));
            } else {
                tag(tag, kind, tag + 2 + (sign == 0 ? 0 : 1));
            }
        }
    }

    private int nextTagStart(int from) {
        for (int i = from; i + 1 < source.length(); i++) {
            if (source.charAt(i) == '{') {
                char c = source.charAt(i + 1);
                if (c == '{' || c == '%' || c == '#') return i;
            }
        }
        return -1;
    }

    /** The text before a tag, as the lexer's OptionalLStrip leaves it. */
    private String stripBefore(String text, char sign, boolean lstripApplies) {
        if (sign == '-') return PythonStrings.rstrip(text, null);
        if (sign == '+' || !lstripApplies) return text;
        int lineStart = text.lastIndexOf('\n') + 1;
        if ((lineStart > 0 || lineStarting) && lineStart < text.length() && isAllSpace(text, lineStart)) {
            return text.substring(0, lineStart);
        }
        return text;
    }

    /** Where the body of {@code {% raw %}} starts if the block at {@code after} (past {@code {%} and its sign) is one. */
    private int rawBegin(int after) {
        int i = skipSpace(after);
        if (!source.startsWith("raw", i)) return -1;
        i = skipSpace(i + 3);
        if (source.startsWith("-%}", i)) return skipSpace(i + 3);
        if (source.startsWith("%}", i)) return i + 2;
        return -1;
    }

    private void raw(int bodyStart) {
        // the body runs to the first {%[-+]? endraw ...%}
        for (int i = bodyStart; i + 1 < source.length(); i++) {
            if (source.charAt(i) != '{' || source.charAt(i + 1) != '%') continue;
            int j = i + 2;
            char sign = j < source.length() && (source.charAt(j) == '-' || source.charAt(j) == '+') ? source.charAt(j++) : 0;
            j = skipSpace(j);
            if (!source.startsWith("endraw", j)) continue;
            j = skipSpace(j + 6);
            int end = blockEnd(j);
            if (end < 0) continue;
            lineStarting = source.charAt(bodyStart - 1) == '\n';
            out.append("{% raw %}").append(stripBefore(source.substring(bodyStart, i), sign, true)).append("{% endraw %}");
            finishAt(end);
            return;
        }
        throw error("missing end of raw directive");
    }

    private void comment(int bodyStart) {
        for (int i = bodyStart; i + 1 < source.length(); i++) {
            if (source.startsWith("+#}", i)) {
                finishAt(i + 3);
                return;
            }
            if (source.startsWith("-#}", i)) {
                finishAt(skipSpace(i + 3));
                return;
            }
            if (source.startsWith("#}", i)) {
                finishAt(i + 2 < source.length() && source.charAt(i + 2) == '\n' ? i + 3 : i + 2);
                return;
            }
        }
        throw error("missing end of comment tag");
    }

    /** A variable or block tag: copied without its whitespace markers, its end found as Jinja2's lexer finds it. */
    private void tag(int start, char kind, int bodyStart) {
        StringBuilder brackets = new StringBuilder(); // the closers still expected
        int i = bodyStart;
        while (i < source.length()) {
            if (brackets.isEmpty()) {
                int end = kind == '%' ? blockEnd(i) : variableEnd(i);
                if (end >= 0) {
                    out.append(kind == '%' ? "{%" : "{{").append(source, bodyStart, i).append(kind == '%' ? "%}" : "}}");
                    finishAt(end);
                    return;
                }
            }
            char c = source.charAt(i);
            if (c == '\'' || c == '"') {
                i = stringEnd(i);
                continue;
            }
            switch (c) {
                case '{' -> brackets.append('}');
                case '(' -> brackets.append(')');
                case '[' -> brackets.append(']');
                case '}', ')', ']' -> {
                    if (brackets.isEmpty() || brackets.charAt(brackets.length() - 1) != c) {
                        throw error("unexpected '" + c + "' at line " + lineOf(i));
                    }
                    brackets.setLength(brackets.length() - 1);
                }
                default -> { }
            }
            i++;
        }
        throw error("the tag at line " + lineOf(start) + " is never closed");
    }

    /** Past a block's end at {@code i}: {@code +%}}, {@code -%}} and the whitespace after, {@code %}} and one newline. */
    private int blockEnd(int i) {
        if (source.startsWith("+%}", i)) return i + 3;
        if (source.startsWith("-%}", i)) return skipSpace(i + 3);
        if (source.startsWith("%}", i)) return i + 2 < source.length() && source.charAt(i + 2) == '\n' ? i + 3 : i + 2;
        return -1;
    }

    private int variableEnd(int i) {
        if (source.startsWith("-}}", i)) return skipSpace(i + 3);
        if (source.startsWith("}}", i)) return i + 2;
        return -1;
    }

    /** Past a string literal starting at {@code quote} (a backslash escapes the next character). */
    private int stringEnd(int quote) {
        char q = source.charAt(quote);
        for (int i = quote + 1; i < source.length(); i++) {
            char c = source.charAt(i);
            if (c == '\\') i++;
            else if (c == q) return i + 1;
        }
        throw error("unterminated string at line " + lineOf(quote));
    }

    private void finishAt(int end) {
        lineStarting = source.charAt(end - 1) == '\n';
        pos = end;
    }

    private int skipSpace(int i) {
        while (i < source.length() && PythonStrings.isSpace(source.charAt(i))) i++;
        return i;
    }

    private static boolean isAllSpace(String text, int from) {
        for (int i = from; i < text.length(); i++) if (!PythonStrings.isSpace(text.charAt(i))) return false;
        return true;
    }

    private int lineOf(int index) {
        int line = 1;
        for (int i = 0; i < index; i++) if (source.charAt(i) == '\n') line++;
        return line;
    }

    private ChatTemplateException error(String what) {
        return new ChatTemplateException(origin + ": " + what);
    }
}
