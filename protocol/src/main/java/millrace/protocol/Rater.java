package millrace.protocol;

/**
 * Who may rate, on the compacted {@code millrace.raters} topic (key: the rater's name). Only a hash of the token is
 * ever stored: the token itself is shown once, when the rater is added.
 *
 * @param name the rater's name (also the key; what every rating names as its rater)
 * @param tokenSha256 lowercase hex SHA-256 of the bearer token (tokens are 256 random bits, so a plain hash is enough:
 *     there is nothing to guess that a slow hash would protect)
 * @param createdAtMillis when the token was issued
 * @param revokedAtMillis when it was revoked, or null while it is valid
 */
public record Rater(String name, String tokenSha256, long createdAtMillis, Long revokedAtMillis) {
    /** Names are shown on the page and in exports: short, printable, no spaces. */
    public static final String NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9._@-]{0,63}";

    public Rater {
        Check.text("name", name);
        if (!name.matches(NAME_PATTERN)) {
            throw new InvalidPayloadException("name", "must match " + NAME_PATTERN + ", was '" + name + "'");
        }
        Check.text("tokenSha256", tokenSha256);
        if (!tokenSha256.matches("[0-9a-f]{64}")) throw new InvalidPayloadException("tokenSha256", "must be 64 hex digits");
        Check.nonNegative("createdAtMillis", createdAtMillis);
        if (revokedAtMillis != null) Check.nonNegative("revokedAtMillis", revokedAtMillis);
    }

    public boolean revoked() {
        return revokedAtMillis != null;
    }

    public Rater revokedAt(long millis) {
        return new Rater(name, tokenSha256, createdAtMillis, millis);
    }
}
