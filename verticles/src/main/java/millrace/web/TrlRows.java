package millrace.web;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Locale;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rating;

/**
 * Ratings as the rows of TRL's datasets, so that the data is never locked in: {@code paired} rows are a preference
 * dataset ({@code prompt}, {@code chosen}, {@code rejected}: DPOTrainer), {@code unpaired} rows an unpaired preference
 * dataset ({@code prompt}, {@code completion}, {@code label}: KTOTrainer), {@code raw} the {@code Rating} records
 * as they are on the topic. Every row also names its {@code rating_id}, {@code rater} and {@code policy_version}.
 */
final class TrlRows {
    enum Shape {
        PAIRED, UNPAIRED, RAW;

        static Shape parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("shape must be paired, unpaired or raw, was '" + s + "'");
            }
        }
    }

    private TrlRows() {}

    /**
     * The rows one rating makes in {@code shape}. Paired: A or B chosen over the other, and an edited answer over
     * the answer it corrects. Unpaired: a score's answer as desirable or not (3 of 5 says neither: no row), both
     * answers of "both bad" as undesirable. A tie prefers nothing and makes no row but a raw one.
     */
    static List<ObjectNode> of(Rating r, Shape shape) {
        return switch (shape) {
            case RAW -> List.of(JsonSerde.MAPPER.valueToTree(r));
            case PAIRED -> {
                if (r.choice() == Rating.Choice.A) yield List.of(pair(r, r.responses().get(0), r.responses().get(1)));
                if (r.choice() == Rating.Choice.B) yield List.of(pair(r, r.responses().get(1), r.responses().get(0)));
                if (r.editedAnswer() != null) yield List.of(pair(r, r.editedAnswer(), r.responses().get(r.answer())));
                yield List.of();
            }
            case UNPAIRED -> {
                if (r.choice() == Rating.Choice.BOTH_BAD) {
                    yield List.of(single(r, r.responses().get(0), false), single(r, r.responses().get(1), false));
                }
                Boolean desirable = r.desirable();
                yield desirable == null ? List.of() : List.of(single(r, r.responses().get(r.answer()), desirable));
            }
        };
    }

    private static ObjectNode pair(Rating r, String chosen, String rejected) {
        return meta(r).put("chosen", chosen).put("rejected", rejected);
    }

    private static ObjectNode single(Rating r, String completion, boolean label) {
        return meta(r).put("completion", completion).put("label", label);
    }

    private static ObjectNode meta(Rating r) {
        ObjectNode row = JsonSerde.MAPPER.createObjectNode();
        row.put("prompt", r.prompt());
        row.put("rating_id", r.id()).put("rater", r.rater()).put("policy_version", r.policyVersion());
        return row;
    }
}
