package millrace.protocol;

import java.util.List;

/**
 * A person's judgement on {@code millrace.ratings}: either a pairwise {@link Choice}, a {@code score}, or an edited
 * answer — at least one of them.
 *
 * @param id rating id (also the idempotency key: a re-sent rating keeps its id and counts once)
 * @param rater the rater's name (from the bearer token, never from the body)
 * @param prompt the prompt shown
 * @param responses the answers shown, in the order shown (A, B)
 * @param choice pairwise preference, or null
 * @param score thumbs (-1/+1) or a 1–5 score, or null
 * @param editedAnswer a corrected answer, or null
 * @param policyVersion the policy version that produced the answers
 * @param createdAtMillis when
 */
public record Rating(
        String id,
        String rater,
        String prompt,
        List<String> responses,
        Choice choice,
        Integer score,
        String editedAnswer,
        long policyVersion,
        long createdAtMillis) {

    public enum Choice { A, B, TIE, BOTH_BAD }

    public Rating {
        Check.text("id", id);
        Check.text("rater", rater);
        Check.text("prompt", prompt);
        responses = List.copyOf(Check.notEmpty("responses", responses));
        if (choice == null && score == null && editedAnswer == null) {
            throw new InvalidPayloadException("choice", "one of choice, score or editedAnswer is required");
        }
        if (choice != null && responses.size() != 2) {
            throw new InvalidPayloadException("responses", "a choice needs exactly two responses, got " + responses.size());
        }
        if (score != null && !(score == -1 || (score >= 1 && score <= 5))) {
            throw new InvalidPayloadException("score", "must be -1 (thumbs down), 1..5, was " + score);
        }
        Check.nonNegative("policyVersion", policyVersion);
        Check.nonNegative("createdAtMillis", createdAtMillis);
    }
}
