package millrace.tokenizer;

/**
 * The o200k pre-tokenization pattern ({@link Pretokenizer#O200K}) as straight-line code, like {@link Cl100kSplitter}:
 * the same pieces as the regular expression, tried in the pattern's order at each position, with its greedy and
 * backtracking behaviour written out. Its first two alternatives split words by case: "upper-ish" characters
 * ({@code Lu Lt Lm Lo M}) then "lower-ish" ones ({@code Ll Lm Lo M}), each after one optional character that is no
 * letter, number or line break, each with an optional English contraction.
 */
final class O200kSplitter {
    private O200kSplitter() {}

    /** The end of the piece that starts at {@code i} (exclusive). */
    static int end(String s, int i) {
        int n = s.length();
        int c = s.codePointAt(i);
        int next = i + Character.charCount(c);
        boolean prefix = c != '\r' && c != '\n' && !Cl100kSplitter.isLetter(c) && !Cl100kSplitter.isNumber(c);

        // 1. [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|...)?
        if (prefix && next < n) {
            int e = upperThenLower(s, next);
            if (e > 0) return contraction(s, e);
        }
        int e = upperThenLower(s, i);
        if (e > 0) return contraction(s, e);
        // 2. [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|...)?
        if (prefix && next < n && isUpper(s.codePointAt(next))) return contraction(s, lowerRun(s, upperRun(s, next)));
        if (isUpper(c)) return contraction(s, lowerRun(s, upperRun(s, i)));
        // 3.-7. as cl100k's, but for the slashes that may end a piece of other characters
        if (Cl100kSplitter.isNumber(c)) return Cl100kSplitter.numbers(s, next, 3);
        int others = Cl100kSplitter.others(s, i, true);
        if (others > 0) return others;
        return Cl100kSplitter.whitespace(s, i);
    }

    /**
     * {@code U*L+} at {@code j} as the regex engine matches it, or -1: the upper-ish run as long as it goes, then
     * giving characters back until a lower-ish one can start {@code L+}, which then runs as long as it can.
     */
    private static int upperThenLower(String s, int j) {
        int n = s.length();
        int uEnd = upperRun(s, j);
        if (uEnd < n && isLower(s.codePointAt(uEnd))) return lowerRun(s, uEnd);
        // back into the run: the last lower-ish character in it (it is also upper-ish) matches L+ alone, as the
        // character after it is not lower-ish
        for (int k = uEnd; k > j; ) {
            int d = s.codePointBefore(k);
            k -= Character.charCount(d);
            if (isLower(d)) return k + Character.charCount(d);
        }
        return -1;
    }

    private static int upperRun(String s, int from) {
        int e = from;
        while (e < s.length()) {
            int d = s.codePointAt(e);
            if (!isUpper(d)) break;
            e += Character.charCount(d);
        }
        return e;
    }

    private static int lowerRun(String s, int from) {
        int e = from;
        while (e < s.length()) {
            int d = s.codePointAt(e);
            if (!isLower(d)) break;
            e += Character.charCount(d);
        }
        return e;
    }

    /** {@code (?i:'s|'t|'re|'ve|'m|'ll|'d)?} at {@code at}: its end, or {@code at}. */
    private static int contraction(String s, int at) {
        if (at + 1 >= s.length() || s.charAt(at) != '\'') return at;
        int n = s.length();
        char a = s.charAt(at + 1);
        char b = at + 2 < n ? s.charAt(at + 2) : 0;
        if (a == 's' || a == 'S' || a == '\u017F' || a == 't' || a == 'T' || a == 'm' || a == 'M' || a == 'd' || a == 'D') {
            return at + 2;
        }
        if ((a == 'r' || a == 'R' || a == 'v' || a == 'V') && (b == 'e' || b == 'E')) return at + 3;
        if ((a == 'l' || a == 'L') && (b == 'l' || b == 'L')) return at + 3;
        return at;
    }

    /** {@code [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]} */
    static boolean isUpper(int c) {
        if (c < 0x80) return c >= 'A' && c <= 'Z';
        int t = Character.getType(c);
        return t == Character.UPPERCASE_LETTER || t == Character.TITLECASE_LETTER || t == Character.MODIFIER_LETTER
                || t == Character.OTHER_LETTER || isMark(t);
    }

    /** {@code [\p{Ll}\p{Lm}\p{Lo}\p{M}]} */
    static boolean isLower(int c) {
        if (c < 0x80) return c >= 'a' && c <= 'z';
        int t = Character.getType(c);
        return t == Character.LOWERCASE_LETTER || t == Character.MODIFIER_LETTER || t == Character.OTHER_LETTER || isMark(t);
    }

    private static boolean isMark(int type) {
        return type == Character.NON_SPACING_MARK || type == Character.COMBINING_SPACING_MARK || type == Character.ENCLOSING_MARK;
    }
}
