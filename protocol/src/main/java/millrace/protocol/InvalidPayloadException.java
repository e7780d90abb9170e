package millrace.protocol;

/** A payload that does not satisfy its contract; {@link #field()} names the offending field. */
public class InvalidPayloadException extends RuntimeException {
    private final String field;

    public InvalidPayloadException(String field, String message) {
        super(field + ": " + message);
        this.field = field;
    }

    public InvalidPayloadException(String field, String message, Throwable cause) {
        super(field + ": " + message, cause);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
