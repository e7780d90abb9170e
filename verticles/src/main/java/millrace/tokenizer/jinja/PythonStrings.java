package millrace.tokenizer.jinja;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

/**
 * Python's {@code str} methods, which chat templates call on message contents ({@code content.split('</think>')[-1]
 * .lstrip('\n')}, {@code startswith}, {@code strip}...), with Python's semantics: whitespace is what
 * {@code str.isspace} says (not Java's {@code trim}), {@code split(sep)} keeps empty pieces (not Java's regex split),
 * {@code strip(chars)} strips a set of characters. Strings are sequences of code points, as in Python.
 */
final class PythonStrings {
    private PythonStrings() {}

    /** Python's {@code str.isspace} for one character. */
    static boolean isSpace(int c) {
        return switch (c) {
            case '\t', '\n', 0x0b, '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, ' ', 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f,
                    0x205f, 0x3000 -> true;
            default -> c >= 0x2000 && c <= 0x200a;
        };
    }

    /**
     * Calls the str method {@code name} on {@code s}; {@link #NO_SUCH_METHOD} when Python's str has no method of that
     * name that chat templates use (the caller then tries Java's).
     */
    static Object call(String s, String name, Object[] args) {
        return switch (name) {
            case "startswith" -> affix(s, args, true);
            case "endswith" -> affix(s, args, false);
            case "strip" -> rstrip(lstrip(s, chars(args)), chars(args));
            case "lstrip" -> lstrip(s, chars(args));
            case "rstrip" -> rstrip(s, chars(args));
            case "split" -> split(s, separator(args), maxSplit(args));
            case "rsplit" -> rsplit(s, separator(args), maxSplit(args));
            case "splitlines" -> splitlines(s, args.length > 0 && Boolean.TRUE.equals(args[0]));
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> capitalize(s);
            case "replace" -> replace(s, string(args, 0), string(args, 1), args.length > 2 ? integer(args[2]) : -1);
            case "find" -> find(s, string(args, 0), false);
            case "rfind" -> find(s, string(args, 0), true);
            case "count" -> count(s, string(args, 0));
            case "join" -> join(s, args);
            case "removeprefix" -> s.startsWith(string(args, 0)) ? s.substring(string(args, 0).length()) : s;
            case "removesuffix" -> string(args, 0).isEmpty() || !s.endsWith(string(args, 0)) ? s
                    : s.substring(0, s.length() - string(args, 0).length());
            case "isspace" -> !s.isEmpty() && s.codePoints().allMatch(PythonStrings::isSpace);
            case "isdigit" -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isupper" -> s.codePoints().anyMatch(PythonStrings::isCased) && s.equals(s.toUpperCase(Locale.ROOT));
            case "islower" -> s.codePoints().anyMatch(PythonStrings::isCased) && s.equals(s.toLowerCase(Locale.ROOT));
            default -> NO_SUCH_METHOD;
        };
    }

    /** What {@link #call} answers for a method Python's str does not have. */
    static final Object NO_SUCH_METHOD = new Object();

    static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length()) {
            int c = s.codePointAt(i);
            if (!stripped(c, chars)) break;
            i += Character.charCount(c);
        }
        return s.substring(i);
    }

    static String rstrip(String s, String chars) {
        int end = s.length();
        while (end > 0) {
            int c = s.codePointBefore(end);
            if (!stripped(c, chars)) break;
            end -= Character.charCount(c);
        }
        return s.substring(0, end);
    }

    private static boolean stripped(int c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(Character.toString(c)) >= 0;
    }

    /** {@code str.split(sep, maxsplit)}; {@code sep == null} splits at runs of whitespace and drops empty pieces. */
    static List<String> split(String s, String sep, int maxSplit) {
        List<String> parts = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            while (true) {
                while (i < s.length() && isSpace(s.charAt(i))) i++;
                if (i == s.length()) return parts;
                if (maxSplit >= 0 && parts.size() == maxSplit) {
                    parts.add(s.substring(i)); // the rest keeps its trailing whitespace, as in Python
                    return parts;
                }
                int end = i;
                while (end < s.length() && !isSpace(s.charAt(end))) end++;
                parts.add(s.substring(i, end));
                i = end;
            }
        }
        if (sep.isEmpty()) throw new PythonError("empty separator");
        int from = 0;
        for (int at = s.indexOf(sep); at >= 0 && (maxSplit < 0 || parts.size() < maxSplit); at = s.indexOf(sep, from)) {
            parts.add(s.substring(from, at));
            from = at + sep.length();
        }
        parts.add(s.substring(from));
        return parts;
    }

    static List<String> rsplit(String s, String sep, int maxSplit) {
        if (maxSplit < 0) return split(s, sep, maxSplit);
        List<String> reversed = new ArrayList<>();
        if (sep == null) {
            int end = s.length();
            while (true) {
                while (end > 0 && isSpace(s.charAt(end - 1))) end--;
                if (end == 0) break;
                if (reversed.size() == maxSplit) {
                    reversed.add(s.substring(0, end)); // the rest keeps its leading whitespace, as in Python
                    break;
                }
                int start = end;
                while (start > 0 && !isSpace(s.charAt(start - 1))) start--;
                reversed.add(s.substring(start, end));
                end = start;
            }
        } else {
            if (sep.isEmpty()) throw new PythonError("empty separator");
            int end = s.length();
            for (int at = s.lastIndexOf(sep, end - sep.length()); at >= 0 && reversed.size() < maxSplit;
                    at = s.lastIndexOf(sep, end - sep.length())) {
                reversed.add(s.substring(at + sep.length(), end));
                end = at;
            }
            reversed.add(s.substring(0, end));
        }
        List<String> parts = new ArrayList<>();
        for (int i = reversed.size() - 1; i >= 0; i--) parts.add(reversed.get(i));
        return parts;
    }

    /** {@code str.splitlines(keepends)}: Python's line boundaries, {@code \r\n} as one. */
    static List<String> splitlines(String s, boolean keepEnds) {
        List<String> lines = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            int breakLength = c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n' ? 2
                    : switch (c) {
                        case '\n', '\r', 0x0b, '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029 -> 1;
                        default -> 0;
                    };
            if (breakLength == 0) {
                i++;
                continue;
            }
            lines.add(s.substring(start, keepEnds ? i + breakLength : i));
            i += breakLength;
            start = i;
        }
        if (start < s.length()) lines.add(s.substring(start));
        return lines;
    }

    /** {@code str.title()}: a cased character after an uncased one is title-cased, every other one lower-cased. */
    static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            if (isCased(c)) {
                out.append(previousCased ? Character.toString(c).toLowerCase(Locale.ROOT) : Character.toString(Character.toTitleCase(c)));
                previousCased = true;
            } else {
                out.appendCodePoint(c);
                previousCased = false;
            }
            i += Character.charCount(c);
        }
        return out.toString();
    }

    /** {@code str.capitalize()}: the first character title-cased, the rest lower-cased. */
    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int first = s.codePointAt(0);
        return Character.toString(Character.toTitleCase(first)) + s.substring(Character.charCount(first)).toLowerCase(Locale.ROOT);
    }

    private static boolean isCased(int c) {
        return Character.isUpperCase(c) || Character.isLowerCase(c) || Character.isTitleCase(c);
    }

    static String replace(String s, String old, String replacement, int count) {
        if (count < 0) return s.replace(old, replacement);
        StringBuilder out = new StringBuilder();
        int from = 0;
        for (int n = 0; n < count; n++) {
            if (old.isEmpty()) {
                if (from > s.length()) break;
                out.append(replacement);
                if (from < s.length()) out.appendCodePoint(s.codePointAt(from));
                from += from < s.length() ? Character.charCount(s.codePointAt(from)) : 1;
                continue;
            }
            int at = s.indexOf(old, from);
            if (at < 0) break;
            out.append(s, from, at).append(replacement);
            from = at + old.length();
        }
        if (from <= s.length()) out.append(s, from, s.length());
        return out.toString();
    }

    /** {@code str.find}/{@code rfind}: a code point index, or -1. */
    private static int find(String s, String sub, boolean last) {
        int at = last ? s.lastIndexOf(sub) : s.indexOf(sub);
        return at < 0 ? -1 : s.codePointCount(0, at);
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) return s.codePointCount(0, s.length()) + 1;
        int n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) n++;
        return n;
    }

    private static String join(String separator, Object[] args) {
        if (args.length != 1 || !(args[0] instanceof Iterable<?> items)) throw new PythonError("join takes one iterable");
        List<String> parts = new ArrayList<>();
        for (Object item : items) {
            if (!(item instanceof String part)) throw new PythonError("join: sequence item is not a str");
            parts.add(part);
        }
        return String.join(separator, parts);
    }

    /** {@code startswith}/{@code endswith} with a string or a tuple of them, and optional start and end. */
    private static boolean affix(String s, Object[] args, boolean prefix) {
        if (args.length == 0) throw new PythonError((prefix ? "startswith" : "endswith") + " takes a string");
        int length = s.codePointCount(0, s.length());
        int start = args.length > 1 && args[1] != null ? PythonSyntax.clampIndex(integer(args[1]), length) : 0;
        int end = args.length > 2 && args[2] != null ? PythonSyntax.clampIndex(integer(args[2]), length) : length;
        if (start > end) return false;
        String window = s.substring(s.offsetByCodePoints(0, start), s.offsetByCodePoints(0, end));
        Collection<?> options = args[0] instanceof Collection<?> c ? c : List.of(args[0]);
        for (Object option : options) {
            if (!(option instanceof String affix)) throw new PythonError("startswith/endswith take strings");
            if (prefix ? window.startsWith(affix) : window.endsWith(affix)) return true;
        }
        return false;
    }

    private static String chars(Object[] args) {
        return args.length == 0 || args[0] == null ? null : string(args, 0);
    }

    private static String separator(Object[] args) {
        return args.length == 0 || args[0] == null ? null : string(args, 0);
    }

    private static int maxSplit(Object[] args) {
        return args.length > 1 ? integer(args[1]) : -1;
    }

    private static String string(Object[] args, int i) {
        if (args.length <= i || !(args[i] instanceof String s)) throw new PythonError("argument " + (i + 1) + " must be a string");
        return s;
    }

    static int integer(Object o) {
        if (o instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) return n.intValue();
        throw new PythonError("an integer is required, not " + PythonValues.repr(o));
    }
}
