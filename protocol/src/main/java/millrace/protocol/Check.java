package millrace.protocol;

import java.util.Collection;

/** Field checks used by the records' constructors, so that an invalid record cannot exist. */
final class Check {
    private Check() {}

    static <T> T present(String field, T value) {
        if (value == null) throw new InvalidPayloadException(field, "is required");
        return value;
    }

    static String text(String field, String value) {
        present(field, value);
        if (value.isBlank()) throw new InvalidPayloadException(field, "must not be blank");
        return value;
    }

    static long nonNegative(String field, long value) {
        if (value < 0) throw new InvalidPayloadException(field, "must be >= 0, was " + value);
        return value;
    }

    static int positive(String field, int value) {
        if (value <= 0) throw new InvalidPayloadException(field, "must be > 0, was " + value);
        return value;
    }

    static <C extends Collection<?>> C notEmpty(String field, C value) {
        present(field, value);
        if (value.isEmpty()) throw new InvalidPayloadException(field, "must not be empty");
        return value;
    }
}
