package millrace.tokenizer.jinja;

/**
 * What Python would raise while rendering (a {@code TypeError}, a {@code ValueError}), or the template's own
 * {@code raise_exception(message)}: rendering stops, and {@link ChatJinja} reports the message. Not an
 * IllegalArgumentException: Jinjava reads those from a method call as "no such method" and goes on with nothing.
 */
final class PythonError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    PythonError(String message) {
        super(message);
    }
}
