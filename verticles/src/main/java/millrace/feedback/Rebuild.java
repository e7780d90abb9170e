package millrace.feedback;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import millrace.kafka.KafkaSettings;

/**
 * A lineage replayed onto a base: every recorded update again, with the same boundaries in the ratings log and the
 * same seeds, so that the same base gives the same weights bit for bit; another base (a rebase) or some raters left
 * out (a poisoner's influence taken out) gives the policy those would have made.
 */
final class Rebuild {
    private Rebuild() {}

    /** Replays {@code updates} onto {@code fresh} (a policy that is its base); returns every rating's entry, in order. */
    static List<FeedbackAudit.Entry> replay(KafkaSettings kafka, Policy fresh, List<PolicyStore.Update> updates,
            Set<String> excludedRaters) throws IOException {
        List<FeedbackAudit.Entry> entries = new ArrayList<>();
        for (PolicyStore.Update u : updates) {
            entries.addAll(fresh.update(RatingsLog.read(kafka, u.from(), u.to()), u.from(), u.to(), excludedRaters).entries());
        }
        return entries;
    }
}
