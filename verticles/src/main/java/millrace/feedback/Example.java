package millrace.feedback;

import java.util.List;
import millrace.protocol.Rating;

/**
 * One thing a policy learns from a rating: a preferred answer over another (DPO), an answer judged desirable or not
 * (KTO), or an answer to imitate (the SFT loss). A rating makes zero, one or two of them.
 */
sealed interface Example permits Example.Pair, Example.Judged, Example.Demonstration {
    String ratingId();

    String rater();

    String prompt();

    /** {@code chosen} preferred to {@code rejected} for {@code prompt}. */
    record Pair(String ratingId, String rater, String prompt, String chosen, String rejected) implements Example {}

    /** {@code answer} to {@code prompt} is desirable, or undesirable. */
    record Judged(String ratingId, String rater, String prompt, String answer, boolean desirable) implements Example {}

    /** {@code answer} is what the model should have said to {@code prompt}. */
    record Demonstration(String ratingId, String rater, String prompt, String answer) implements Example {}

    /**
     * What a rating teaches: A or B, the chosen answer over the other; a score, its answer as desirable or not (a 3 of
     * 5 says neither: nothing); both bad, both answers as undesirable; an edit, the corrected answer to imitate and to
     * prefer over the original. A tie prefers nothing and teaches nothing.
     */
    static List<Example> of(Rating r) {
        List<String> shown = r.responses();
        return switch (r.kind()) {
            case CHOICE -> switch (r.choice()) {
                case A -> List.of(new Pair(r.id(), r.rater(), r.prompt(), shown.get(0), shown.get(1)));
                case B -> List.of(new Pair(r.id(), r.rater(), r.prompt(), shown.get(1), shown.get(0)));
                case BOTH_BAD -> List.of(new Judged(r.id(), r.rater(), r.prompt(), shown.get(0), false),
                        new Judged(r.id(), r.rater(), r.prompt(), shown.get(1), false));
                case TIE -> List.of();
            };
            case SCORE -> r.desirable() == null ? List.of()
                    : List.of(new Judged(r.id(), r.rater(), r.prompt(), shown.get(r.answer()), r.desirable()));
            case EDIT -> List.of(new Demonstration(r.id(), r.rater(), r.prompt(), r.editedAnswer()),
                    new Pair(r.id(), r.rater(), r.prompt(), r.editedAnswer(), shown.get(r.answer())));
        };
    }
}
