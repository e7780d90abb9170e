package millrace.protocol;

import java.util.List;

/**
 * A person's judgement on {@code millrace.ratings} (key: the rating id) of answers the web role produced for a
 * comparison: exactly one of a pairwise {@link Choice}, a {@code score} of one answer, or an edited answer.
 *
 * @param id rating id; a client's idempotency key determines it, so a re-sent rating keeps its id and counts once
 * @param rater the rater's name (from the bearer token, never from the body)
 * @param comparisonId the comparison whose answers were shown
 * @param model the model name of the policy that produced the answers
 * @param policyVersion the policy version that produced the answers (0: the pretrained checkpoint, before any policy)
 * @param checkpoint where the weights that produced the answers are (the policy version's checkpoint directory)
 * @param prompt the prompt shown
 * @param responses the answers shown, in the order shown (A, B)
 * @param choice pairwise preference, or null
 * @param score a score of answer {@code answer} on {@code scale}, or null
 * @param scale what {@code score} is out of (thumbs -1/+1, or 1..5)
 * @param answer which response a score or an edit is about (0 = A, 1 = B), or null for a choice
 * @param editedAnswer the rater's correction of response {@code answer}, or null
 * @param createdAtMillis when the web role accepted it
 */
public record Rating(
        String id,
        String rater,
        String comparisonId,
        String model,
        long policyVersion,
        String checkpoint,
        String prompt,
        List<String> responses,
        Choice choice,
        Integer score,
        Scale scale,
        Integer answer,
        String editedAnswer,
        long createdAtMillis) {

    /** A pairwise preference between the two answers shown. */
    public enum Choice { A, B, TIE, BOTH_BAD }

    /** What a score is out of: thumbs are -1 or +1; five is 1..5 (3 is neutral). */
    public enum Scale { THUMBS, FIVE }

    /** The three kinds of rating; a bounded label for metrics. */
    public enum Kind {
        CHOICE, SCORE, EDIT;

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public Rating {
        Check.text("id", id);
        Check.text("rater", rater);
        Check.text("comparisonId", comparisonId);
        Check.text("model", model);
        Check.nonNegative("policyVersion", policyVersion);
        Check.text("checkpoint", checkpoint);
        Check.present("prompt", prompt);
        responses = List.copyOf(Check.notEmpty("responses", responses));
        int given = (choice != null ? 1 : 0) + (score != null ? 1 : 0) + (editedAnswer != null ? 1 : 0);
        if (given != 1) {
            throw new InvalidPayloadException("choice", "exactly one of choice, score or editedAnswer is required, got " + given);
        }
        if (choice != null) {
            if (responses.size() != 2) {
                throw new InvalidPayloadException("responses", "a choice needs exactly two responses, got " + responses.size());
            }
            if (answer != null) throw new InvalidPayloadException("answer", "a choice is about both answers: leave answer out");
        } else {
            Check.present("answer", answer);
            if (answer < 0 || answer >= responses.size()) {
                throw new InvalidPayloadException("answer", "must be 0.." + (responses.size() - 1) + ", was " + answer);
            }
        }
        if (score != null) {
            Check.present("scale", scale);
            boolean valid = scale == Scale.THUMBS ? (score == -1 || score == 1) : (score >= 1 && score <= 5);
            if (!valid) {
                throw new InvalidPayloadException("score", (scale == Scale.THUMBS ? "thumbs are -1 or 1" : "must be 1..5")
                        + ", was " + score);
            }
        } else if (scale != null) {
            throw new InvalidPayloadException("scale", "only a score has a scale");
        }
        if (editedAnswer != null && editedAnswer.isBlank()) {
            throw new InvalidPayloadException("editedAnswer", "must not be blank");
        }
        Check.nonNegative("createdAtMillis", createdAtMillis);
    }

    public Kind kind() {
        return choice != null ? Kind.CHOICE : score != null ? Kind.SCORE : Kind.EDIT;
    }

    /**
     * Whether a score says the answer is desirable (thumbs up, 4 or 5), undesirable (thumbs down, 1 or 2), or neither
     * (3: null). Null for the other kinds.
     */
    public Boolean desirable() {
        if (score == null) return null;
        if (scale == Scale.THUMBS) return score > 0;
        return score >= 4 ? Boolean.TRUE : score <= 2 ? Boolean.FALSE : null;
    }
}
