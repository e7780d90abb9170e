package millrace.train;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import millrace.kafka.KafkaSettings;
import millrace.kafka.StageVerticle;

/**
 * The train role: reads training shards from {@code millrace.shards}, takes an optimizer step whenever a batch of
 * rows is ready, and every few seconds saves a checkpoint, commits the positions its weights stand at and announces
 * the checkpoint on {@code millrace.checkpoints} (a DiLoCo replica announces its run's, {@link ReplicaSync}).
 * Validation shards feed a held-out set for the validation loss. The work is {@link TrainWorker}'s; this class runs it
 * as a stage loop.
 */
public final class TrainVerticle extends StageVerticle {
    private final CompletableFuture<Long> finished;

    public TrainVerticle(KafkaSettings kafka, TrainSettings settings, Path checkpointRoot) {
        this(kafka, settings, checkpointRoot, new CompletableFuture<>());
    }

    private TrainVerticle(KafkaSettings kafka, TrainSettings settings, Path checkpointRoot,
            CompletableFuture<Long> finished) {
        super("train", vertx -> new TrainWorker(kafka, settings, checkpointRoot, finished));
        this.finished = finished;
    }

    /** Completes with the last step once {@link TrainSettings#maxSteps} are trained and checkpointed; never without one. */
    public CompletableFuture<Long> finished() {
        return finished;
    }

    /** The consumer group a model's trainer reads {@code millrace.shards} in. */
    public static String consumerGroup(String modelName) {
        return "millrace-train." + modelName;
    }
}
