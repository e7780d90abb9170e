package millrace.dedup;

import java.util.ArrayList;
import java.util.List;

/** Whitespace-separated words, the unit of the Gopher and C4 rules. */
final class Words {
    private Words() {}

    static List<String> of(String text) {
        List<String> out = new ArrayList<>();
        int start = -1;
        for (int i = 0; i < text.length(); i++) {
            if (Character.isWhitespace(text.charAt(i))) {
                if (start >= 0) out.add(text.substring(start, i));
                start = -1;
            } else if (start < 0) {
                start = i;
            }
        }
        if (start >= 0) out.add(text.substring(start));
        return out;
    }

    static boolean hasLetter(String word) {
        for (int i = 0; i < word.length(); i++) if (Character.isLetter(word.charAt(i))) return true;
        return false;
    }

    static boolean hasLetterOrDigit(String word) {
        for (int i = 0; i < word.length(); i++) if (Character.isLetterOrDigit(word.charAt(i))) return true;
        return false;
    }

    /** The word without leading and trailing punctuation, lower-cased. */
    static String bare(String word) {
        int a = 0;
        int b = word.length();
        while (a < b && !Character.isLetterOrDigit(word.charAt(a))) a++;
        while (b > a && !Character.isLetterOrDigit(word.charAt(b - 1))) b--;
        return word.substring(a, b).toLowerCase(java.util.Locale.ROOT);
    }
}
