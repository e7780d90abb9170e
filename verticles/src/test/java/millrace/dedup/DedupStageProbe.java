package millrace.dedup;

import java.util.function.BooleanSupplier;
import millrace.kafka.KafkaSettings;

/** Lets tests outside this package drive the dedup stage's worker step by step. */
public final class DedupStageProbe {
    private DedupStageProbe() {}

    public static void runUntil(KafkaSettings kafka, BooleanSupplier done) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        try (DedupVerticle.DedupWorker worker = new DedupVerticle.DedupWorker(kafka, DedupSettings.NO_FILTERS)) {
            while (!done.getAsBoolean()) {
                if (System.nanoTime() > deadline) throw new AssertionError("dedup did not get there in 60 s");
                worker.step();
            }
        }
    }
}
