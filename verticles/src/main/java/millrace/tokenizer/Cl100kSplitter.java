package millrace.tokenizer;

/**
 * The cl100k pre-tokenization pattern ({@link Pretokenizer#CL100K}, Llama 3's too) as straight-line code: the same
 * pieces as the regular expression, about three times faster. The alternatives are tried in the pattern's order at each
 * position, with the pattern's greedy and backtracking behaviour written out; every character belongs to some piece, so
 * pieces are contiguous. Qwen's pattern ({@link Pretokenizer#QWEN2}) differs only in taking digits one at a time, not
 * up to three: the digit run's length is a parameter.
 */
final class Cl100kSplitter {
    private Cl100kSplitter() {}

    /**
     * The end of the piece that starts at {@code i} (exclusive), with digits taken up to {@code maxDigits} at a time:
     * 3 for cl100k's {@code \p{N}{1,3}}, 1 for Qwen's {@code \p{N}}.
     */
    static int end(String s, int i, int maxDigits) {
        int n = s.length();
        int c = s.codePointAt(i);
        int next = i + Character.charCount(c);

        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (c == '\'' && next < n) {
            int e = contraction(s, next);
            if (e > 0) return e;
        }
        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        if (isLetter(c)) return letters(s, i);
        if (c != '\r' && c != '\n' && !isNumber(c) && next < n && isLetter(s.codePointAt(next))) return letters(s, next);
        // 3. \p{N}{1,3} (Qwen: \p{N})
        if (isNumber(c)) return numbers(s, next, maxDigits);
        // 4. ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        int e = others(s, i, false);
        if (e > 0) return e;
        // 5.-7. whitespace
        return whitespace(s, i);
    }

    /** {@code \p{N}{1,maxDigits}} whose first number ends at {@code next}: the end of the piece. */
    static int numbers(String s, int next, int maxDigits) {
        int e = next;
        for (int k = 1; k < maxDigits && e < s.length(); k++) {
            int d = s.codePointAt(e);
            if (!isNumber(d)) break;
            e += Character.charCount(d);
        }
        return e;
    }

    /**
     * {@code ' ?[^\s\p{L}\p{N}]+[\r\n]*'} at {@code i} (o200k's ends in {@code [\r\n/]*}: {@code slash}): the end of
     * the piece, or -1.
     */
    static int others(String s, int i, boolean slash) {
        int n = s.length();
        int p = i;
        if (s.charAt(i) == ' ' && i + 1 < n && isOther(s.codePointAt(i + 1))) p = i + 1;
        if (!isOther(s.codePointAt(p))) return -1;
        int e = p;
        while (e < n) {
            int d = s.codePointAt(e);
            if (!isOther(d)) break;
            e += Character.charCount(d);
        }
        while (e < n && (s.charAt(e) == '\r' || s.charAt(e) == '\n' || (slash && s.charAt(e) == '/'))) e++;
        return e;
    }

    /**
     * The whitespace alternatives at {@code i}, where a whitespace character stands: {@code \s*[\r\n]+},
     * {@code \s+(?!\S)}, {@code \s+}. The end of the piece.
     */
    static int whitespace(String s, int i) {
        int n = s.length();
        int j = i; // the end of the whitespace run
        int lastNewline = -1;
        while (j < n) {
            int d = s.codePointAt(j);
            if (!isSpace(d)) break;
            if (d == '\r' || d == '\n') lastNewline = j;
            j += Character.charCount(d);
        }
        // \s*[\r\n]+ : up to and including the last newline of the run
        if (lastNewline >= 0) return lastNewline + 1;
        // \s+(?!\S) : the run, or all of it but its last character when a non-space follows
        if (j == n) return j;
        int last = s.codePointBefore(j);
        int withoutLast = j - Character.charCount(last);
        if (withoutLast > i) return withoutLast;
        // \s+
        return j;
    }

    private static int contraction(String s, int at) {
        int n = s.length();
        char a = s.charAt(at);
        char b = at + 1 < n ? s.charAt(at + 1) : 0;
        if (a == 's' || a == 'S' || a == '\u017F' || a == 't' || a == 'T' || a == 'm' || a == 'M' || a == 'd' || a == 'D') {
            return at + 1;
        }
        if ((a == 'r' || a == 'R' || a == 'v' || a == 'V') && (b == 'e' || b == 'E')) return at + 2;
        if ((a == 'l' || a == 'L') && (b == 'l' || b == 'L')) return at + 2;
        return -1;
    }

    private static int letters(String s, int from) {
        int n = s.length();
        int e = from;
        while (e < n) {
            int d = s.codePointAt(e);
            if (!isLetter(d)) break;
            e += Character.charCount(d);
        }
        return e;
    }

    static boolean isLetter(int c) {
        if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
        return Character.isLetter(c);
    }

    static boolean isNumber(int c) {
        if (c < 0x80) return c >= '0' && c <= '9';
        int t = Character.getType(c);
        return t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
    }

    /** Unicode White_Space, which {@code \s} means under UNICODE_CHARACTER_CLASS (not Character.isWhitespace). */
    static boolean isSpace(int c) {
        if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
        return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029
                || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    static boolean isOther(int c) {
        return !isSpace(c) && !isLetter(c) && !isNumber(c);
    }
}
