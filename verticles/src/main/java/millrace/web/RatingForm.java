package millrace.web;

import io.vertx.core.json.JsonObject;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Set;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.Rating;
import millrace.raters.RaterTokens;

/**
 * The body of {@code POST /api/ratings}, checked field by field: a wrong field is named in the 400. What the rating is
 * about (prompt, answers, policy version) comes from the comparison, and who rated from the token, never from here.
 */
record RatingForm(String comparisonId, Rating.Choice choice, Integer score, Rating.Scale scale, Integer answer,
        String editedAnswer, String idempotencyKey) {
    static final int MAX_EDIT_CHARS = 8000;
    static final int MAX_KEY_CHARS = 128;
    private static final Set<String> FIELDS = Set.of("comparisonId", "choice", "score", "scale", "answer",
            "editedAnswer", "idempotencyKey");
    private static final SecureRandom RANDOM = new SecureRandom();

    static RatingForm parse(JsonObject body) {
        for (String field : body.fieldNames()) {
            if (!FIELDS.contains(field)) throw new InvalidPayloadException(field, "unknown field (fields: " + FIELDS + ")");
        }
        String comparisonId = string(body, "comparisonId", 64);
        if (comparisonId == null) throw new InvalidPayloadException("comparisonId", "is required");
        String choice = string(body, "choice", 16);
        Integer score = integer(body, "score");
        String scale = string(body, "scale", 16);
        Integer answer = integer(body, "answer");
        String edited = string(body, "editedAnswer", MAX_EDIT_CHARS);
        String key = string(body, "idempotencyKey", MAX_KEY_CHARS);
        int kinds = (choice != null ? 1 : 0) + (score != null ? 1 : 0) + (edited != null ? 1 : 0);
        if (kinds != 1) throw new InvalidPayloadException("choice", "give exactly one of choice, score or editedAnswer");
        Rating.Choice parsedChoice = null;
        if (choice != null) {
            try {
                parsedChoice = Rating.Choice.valueOf(choice.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new InvalidPayloadException("choice", "must be A, B, TIE or BOTH_BAD, was '" + choice + "'");
            }
            if (answer != null) throw new InvalidPayloadException("answer", "a choice is about both answers: leave answer out");
        } else if (answer == null || (answer != 0 && answer != 1)) {
            throw new InvalidPayloadException("answer", "which answer (0 for A, 1 for B) is required for a score or an edit");
        }
        Rating.Scale parsedScale = null;
        if (score != null) {
            if (scale == null) throw new InvalidPayloadException("scale", "is required with a score: thumbs (-1 or 1) or five (1..5)");
            try {
                parsedScale = Rating.Scale.valueOf(scale.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new InvalidPayloadException("scale", "must be thumbs or five, was '" + scale + "'");
            }
            boolean valid = parsedScale == Rating.Scale.THUMBS ? score == -1 || score == 1 : score >= 1 && score <= 5;
            if (!valid) throw new InvalidPayloadException("score", (parsedScale == Rating.Scale.THUMBS
                    ? "thumbs are -1 or 1" : "must be 1..5") + ", was " + score);
        } else if (scale != null) {
            throw new InvalidPayloadException("scale", "only a score has a scale");
        }
        if (edited != null && edited.isBlank()) throw new InvalidPayloadException("editedAnswer", "must not be blank");
        if (key != null && (key.isBlank() || key.chars().anyMatch(Character::isISOControl))) {
            throw new InvalidPayloadException("idempotencyKey", "must be printable and not blank");
        }
        return new RatingForm(comparisonId, parsedChoice, score, parsedScale, answer, edited, key);
    }

    /**
     * The rating's id: from the rater's idempotency key when there is one (the same key of the same rater gives the
     * same id, so a re-send is recognised), random otherwise.
     */
    String ratingId(String rater) {
        if (idempotencyKey != null) return "r-" + RaterTokens.sha256(rater + "\n" + idempotencyKey).substring(0, 32);
        byte[] b = new byte[16];
        RANDOM.nextBytes(b);
        return "r-" + HexFormat.of().formatHex(b);
    }

    /** The rating this form makes of a comparison shown to {@code rater}. */
    Rating toRating(String id, String rater, Comparisons.Comparison c, long nowMillis) {
        if (editedAnswer != null && editedAnswer.equals(c.answers().get(answer))) {
            throw new InvalidPayloadException("editedAnswer", "is the answer unchanged: nothing was corrected");
        }
        return new Rating(id, rater, c.id(), c.policy().model(), c.policy().version(), c.policy().checkpoint(),
                c.prompt(), c.answers(), choice, score, scale, choice == null ? answer : null, editedAnswer, nowMillis);
    }

    private static String string(JsonObject body, String field, int maxChars) {
        Object v = body.getValue(field);
        if (v == null) return null;
        if (!(v instanceof String s)) throw new InvalidPayloadException(field, "must be a string");
        if (s.length() > maxChars) throw new InvalidPayloadException(field, "is longer than " + maxChars + " characters");
        return s;
    }

    private static Integer integer(JsonObject body, String field) {
        Object v = body.getValue(field);
        if (v == null) return null;
        if (!(v instanceof Integer || v instanceof Long) || ((Number) v).longValue() != ((Number) v).intValue()) {
            throw new InvalidPayloadException(field, "must be an integer");
        }
        return ((Number) v).intValue();
    }
}
