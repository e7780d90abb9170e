package millrace.tokenizer.jinja;

/**
 * A chat template that cannot render these messages: its syntax, its own {@code raise_exception}, or what Python
 * would raise. The message is one line and starts with the template's origin.
 */
public final class ChatTemplateException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ChatTemplateException(String message) {
        super(message);
    }
}
