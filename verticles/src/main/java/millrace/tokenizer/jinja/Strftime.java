package millrace.tokenizer.jinja;

import java.time.DayOfWeek;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.time.temporal.ChronoField;
import java.time.temporal.IsoFields;
import java.util.Locale;

/**
 * Python's {@code datetime.strftime} in the C locale, for transformers' {@code strftime_now(format)}: Llama 3.1's
 * template writes today's date with {@code "%d %b %Y"}, others with {@code "%Y-%m-%d"} or {@code "%B %d, %Y"}. glibc's
 * {@code %-d} (no padding) works, as it does for Python on Linux.
 */
final class Strftime {
    private Strftime() {}

    static String format(ZonedDateTime t, String format) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                out.append(c);
                continue;
            }
            char d = format.charAt(++i);
            boolean unpadded = d == '-' && i + 1 < format.length();
            if (unpadded) d = format.charAt(++i);
            out.append(directive(t, d, unpadded, format));
        }
        return out.toString();
    }

    private static String directive(ZonedDateTime t, char d, boolean unpadded, String format) {
        LocalDateTime l = t.toLocalDateTime();
        return switch (d) {
            case 'a' -> l.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
            case 'A' -> l.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
            case 'w' -> Integer.toString(l.getDayOfWeek().getValue() % 7);
            case 'u' -> Integer.toString(l.getDayOfWeek().getValue());
            case 'd' -> pad(l.getDayOfMonth(), 2, unpadded);
            case 'e' -> unpadded ? Integer.toString(l.getDayOfMonth()) : String.format("%2d", l.getDayOfMonth());
            case 'b', 'h' -> l.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
            case 'B' -> l.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
            case 'm' -> pad(l.getMonthValue(), 2, unpadded);
            case 'y' -> pad(l.getYear() % 100, 2, unpadded);
            case 'Y' -> Integer.toString(l.getYear());
            case 'H' -> pad(l.getHour(), 2, unpadded);
            case 'I' -> pad(l.getHour() % 12 == 0 ? 12 : l.getHour() % 12, 2, unpadded);
            case 'p' -> l.getHour() < 12 ? "AM" : "PM";
            case 'M' -> pad(l.getMinute(), 2, unpadded);
            case 'S' -> pad(l.getSecond(), 2, unpadded);
            case 'f' -> String.format("%06d", l.getNano() / 1000);
            case 'j' -> pad(l.getDayOfYear(), 3, unpadded);
            case 'U' -> pad(weekOfYear(l, DayOfWeek.SUNDAY), 2, unpadded);
            case 'W' -> pad(weekOfYear(l, DayOfWeek.MONDAY), 2, unpadded);
            case 'V' -> pad(l.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR), 2, unpadded);
            case 'G' -> Integer.toString(l.get(IsoFields.WEEK_BASED_YEAR));
            case 'z', 'Z' -> ""; // datetime.now() is naive: it has no offset or zone to print
            case 'c' -> format(t, "%a %b %e %H:%M:%S %Y");
            case 'x' -> format(t, "%m/%d/%y");
            case 'X' -> format(t, "%H:%M:%S");
            case 'D' -> format(t, "%m/%d/%y");
            case 'F' -> format(t, "%Y-%m-%d");
            case 'T' -> format(t, "%H:%M:%S");
            case 'R' -> format(t, "%H:%M");
            case 's' -> Long.toString(t.toEpochSecond());
            case 'n' -> "\n";
            case 't' -> "\t";
            case '%' -> "%";
            default -> throw new PythonError("strftime_now: unsupported directive %" + d + " in '" + format + "'");
        };
    }

    /** The week number with weeks starting on {@code first}; days before the year's first such day are in week 0. */
    private static int weekOfYear(LocalDateTime l, DayOfWeek first) {
        int dayOfYear = l.getDayOfYear() - 1;
        int weekday = (l.get(ChronoField.DAY_OF_WEEK) - first.getValue() + 7) % 7; // days since the week's start
        return (dayOfYear - weekday + 7) / 7;
    }

    private static String pad(int value, int width, boolean unpadded) {
        return unpadded ? Integer.toString(value) : String.format("%0" + width + "d", value);
    }

    /** Now, in the machine's time zone, as Python's {@code datetime.now()} reads it. */
    static String now(String format) {
        return format(ZonedDateTime.now(ZoneId.systemDefault()), format);
    }
}
