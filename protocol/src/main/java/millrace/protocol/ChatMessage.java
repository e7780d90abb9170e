package millrace.protocol;

/**
 * One turn of a conversation, as chat datasets (and TRL's SFTTrainer) have it.
 *
 * @param role {@code system}, {@code user} or {@code assistant}
 * @param content the turn's text
 */
public record ChatMessage(String role, String content) {
    public static final java.util.Set<String> ROLES = java.util.Set.of("system", "user", "assistant");

    public ChatMessage {
        Check.text("role", role);
        if (!ROLES.contains(role)) throw new InvalidPayloadException("role", "must be system, user or assistant, was '" + role + "'");
        Check.present("content", content);
    }
}
