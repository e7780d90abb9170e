package millrace.dedup;

import millrace.protocol.RejectReason;

/** One quality rule set. A filter may also clean the text it passes (C4 drops lines). Pure and thread-safe. */
public interface QualityFilter {

    /** What a filter said. */
    sealed interface Outcome permits Pass, Fail {}

    /** Passed, with the text as the filter leaves it. */
    record Pass(String text) implements Outcome {}

    /** Failed: the reason code and which rule, with the measured value. */
    record Fail(RejectReason reason, String detail) implements Outcome {}

    Outcome check(String text);
}
