package millrace.feedback;

import java.nio.file.Path;
import millrace.kafka.KafkaSettings;
import millrace.kafka.StageVerticle;

/** The feedback role: ratings in, policy versions out (see {@link FeedbackWorker}). */
public final class FeedbackVerticle extends StageVerticle {
    public FeedbackVerticle(KafkaSettings kafka, FeedbackSettings settings, Path dataDir) {
        super("feedback", vertx -> new FeedbackWorker(kafka, settings, dataDir));
    }
}
