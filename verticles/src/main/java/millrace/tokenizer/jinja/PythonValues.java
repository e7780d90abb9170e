package millrace.tokenizer.jinja;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Values as Python writes them, where a template prints one ({@code str}: {@code True}, {@code 1e-05},
 * {@code ['a', 1]}) or passes it to {@code tojson} ({@code json.dumps}, as transformers calls it: no ASCII escaping,
 * {@code ", "} and {@code ": "} between items unless indented). Java's null stands for both Python's None and an
 * undefined variable, which Jinjava cannot tell apart; it prints as an undefined one does: nothing.
 */
public final class PythonValues {
    private PythonValues() {}

    /** JSON as the plain values a template reads: maps (in document order), lists, strings, numbers, booleans, null. */
    public static Object fromJson(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) return null;
        if (node.isObject()) {
            Map<String, Object> map = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                map.put(e.getKey(), fromJson(e.getValue()));
            }
            return map;
        }
        if (node.isArray()) {
            List<Object> list = new ArrayList<>();
            for (JsonNode item : node) list.add(fromJson(item));
            return list;
        }
        if (node.isTextual()) return node.textValue();
        if (node.isBoolean()) return node.booleanValue();
        if (node.isIntegralNumber()) return node.canConvertToLong() ? (Object) node.longValue() : node.bigIntegerValue();
        if (node.isNumber()) return node.doubleValue();
        throw new IllegalArgumentException("not a JSON value: " + node);
    }

    /** Python's {@code str(value)}: what {@code {{ value }}} prints. */
    public static String str(Object value) {
        if (value == null) return "";
        if (value instanceof String s) return s;
        if (value instanceof CharSequence s) return s.toString();
        return repr(value);
    }

    /** Python's {@code repr(value)}. */
    public static String repr(Object value) {
        StringBuilder out = new StringBuilder();
        repr(value, out);
        return out.toString();
    }

    private static void repr(Object value, StringBuilder out) {
        if (value == null) {
            out.append("None");
        } else if (value instanceof Boolean b) {
            out.append(b ? "True" : "False");
        } else if (value instanceof Double || value instanceof Float || value instanceof BigDecimal) {
            out.append(floatRepr(((Number) value).doubleValue()));
        } else if (value instanceof Number n) {
            out.append(n);
        } else if (value instanceof CharSequence s) {
            stringRepr(s.toString(), out);
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!first) out.append(", ");
                first = false;
                repr(e.getKey(), out);
                out.append(": ");
                repr(e.getValue(), out);
            }
            out.append('}');
        } else if (value instanceof Iterable<?> items) {
            out.append('[');
            boolean first = true;
            for (Object item : items) {
                if (!first) out.append(", ");
                first = false;
                repr(item, out);
            }
            out.append(']');
        } else if (value instanceof Object[] array) {
            repr(List.of(array), out);
        } else {
            out.append(value);
        }
    }

    /** A str's repr: single quotes unless it holds one and no double quote; unprintable characters escaped. */
    private static void stringRepr(String s, StringBuilder out) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        out.append(quote);
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            if (c == quote || c == '\\') out.append('\\').appendCodePoint(c);
            else if (c == '\n') out.append("\\n");
            else if (c == '\r') out.append("\\r");
            else if (c == '\t') out.append("\\t");
            else if (isPrintable(c)) out.appendCodePoint(c);
            else if (c < 0x100) out.append(String.format("\\x%02x", c));
            else if (c < 0x10000) out.append(String.format("\\u%04x", c));
            else out.append(String.format("\\U%08x", c));
        }
        out.append(quote);
    }

    /** Python's {@code str.isprintable} for one character: not a control, format, separator (but space) or unassigned one. */
    private static boolean isPrintable(int c) {
        if (c == ' ') return true;
        return switch (Character.getType(c)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                    Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /**
     * Python's {@code repr(float)}: the shortest digits that read back as the same double, in positional notation
     * for 1e-4 <= |x| < 1e16 ({@code 0.0001}, {@code 1.0}) and as {@code 1e-05}, {@code 1.5e+16} outside.
     */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        String sign = Math.copySign(1.0, d) < 0 ? "-" : "";
        if (d == 0) return sign + "0.0";
        BigDecimal exact = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = exact.unscaledValue().toString();
        int point = digits.length() - exact.scale(); // digits before the decimal point
        if (point <= -4 || point > 16) {
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            int exponent = point - 1;
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (Math.abs(exponent) < 10 ? "0" : "") + Math.abs(exponent);
        }
        if (point <= 0) return sign + "0." + "0".repeat(-point) + digits;
        if (point >= digits.length()) return sign + digits + "0".repeat(point - digits.length()) + ".0";
        return sign + digits.substring(0, point) + "." + digits.substring(point);
    }

    /**
     * Python's {@code json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...)}.
     *
     * @param indent null for one line; spaces (or the string) per level otherwise
     * @param separators null for the defaults ({@code ", "} or, indented, {@code ","}; then {@code ": "})
     */
    public static String json(Object value, boolean ensureAscii, Object indent, List<String> separators, boolean sortKeys) {
        String indentUnit = indent == null ? null : indent instanceof Number n ? " ".repeat(Math.max(0, n.intValue())) : indent.toString();
        String itemSeparator = separators != null ? separators.get(0) : indentUnit == null ? ", " : ",";
        String keySeparator = separators != null ? separators.get(1) : ": ";
        StringBuilder out = new StringBuilder();
        new JsonWriter(ensureAscii, indentUnit, itemSeparator, keySeparator, sortKeys, out).write(value, 0);
        return out.toString();
    }

    private record JsonWriter(boolean ensureAscii, String indent, String itemSeparator, String keySeparator,
            boolean sortKeys, StringBuilder out) {
        void write(Object value, int level) {
            if (value == null) {
                out.append("null");
            } else if (value instanceof Boolean b) {
                out.append(b);
            } else if (value instanceof Double || value instanceof Float || value instanceof BigDecimal) {
                double d = ((Number) value).doubleValue();
                out.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : floatRepr(d));
            } else if (value instanceof Number n) {
                out.append(n instanceof BigInteger ? n.toString() : Long.toString(n.longValue()));
            } else if (value instanceof CharSequence s) {
                string(s.toString());
            } else if (value instanceof Map<?, ?> map) {
                Map<?, ?> entries = sortKeys ? new TreeMap<>(map) : map;
                if (entries.isEmpty()) {
                    out.append("{}");
                    return;
                }
                out.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : entries.entrySet()) {
                    separate(first, level + 1);
                    first = false;
                    string(key(e.getKey()));
                    out.append(keySeparator);
                    write(e.getValue(), level + 1);
                }
                close(level, '}');
            } else if (value instanceof Iterable<?> items) {
                if (!items.iterator().hasNext()) {
                    out.append("[]");
                    return;
                }
                out.append('[');
                boolean first = true;
                for (Object item : items) {
                    separate(first, level + 1);
                    first = false;
                    write(item, level + 1);
                }
                close(level, ']');
            } else if (value instanceof Object[] array) {
                write(List.of(array), level);
            } else {
                throw new PythonError("Object of type " + value.getClass().getSimpleName() + " is not JSON serializable");
            }
        }

        private void separate(boolean first, int level) {
            if (!first) out.append(itemSeparator);
            if (indent != null) out.append('\n').append(indent.repeat(level));
        }

        private void close(int level, char bracket) {
            if (indent != null) out.append('\n').append(indent.repeat(level));
            out.append(bracket);
        }

        /** Keys are strings in JSON: Python writes other keys as their JSON scalars. */
        private static String key(Object k) {
            if (k instanceof String s) return s;
            if (k == null) return "null";
            if (k instanceof Boolean b) return b.toString();
            if (k instanceof Double || k instanceof Float) return floatRepr(((Number) k).doubleValue());
            return k.toString();
        }

        private void string(String s) {
            out.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    case '\b' -> out.append("\\b");
                    case '\f' -> out.append("\\f");
                    default -> {
                        if (c < 0x20 || (ensureAscii && c > 0x7e)) out.append(String.format("\\u%04x", (int) c));
                        else out.append(c);
                    }
                }
            }
            out.append('"');
        }
    }
}
