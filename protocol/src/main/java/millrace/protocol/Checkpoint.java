package millrace.protocol;

import java.util.Map;

/**
 * A saved training state on the compacted {@code millrace.checkpoints} topic (key: model name).
 *
 * @param model model name
 * @param step optimizer steps taken
 * @param tokensSeen training tokens consumed
 * @param consumerOffsets next offset to read per {@code millrace.shards} partition ("partition" → offset)
 * @param location where the checkpoint directory lives (a path on shared storage)
 * @param trainLoss the loss of the last step
 * @param validationLoss last validation loss, or null if not yet evaluated
 * @param tokenizerId tokenizer the model was trained with
 * @param createdAtMillis when it was written
 */
public record Checkpoint(
        String model,
        long step,
        long tokensSeen,
        Map<String, Long> consumerOffsets,
        String location,
        double trainLoss,
        Double validationLoss,
        String tokenizerId,
        long createdAtMillis) {

    public Checkpoint {
        Check.text("model", model);
        Check.nonNegative("step", step);
        Check.nonNegative("tokensSeen", tokensSeen);
        consumerOffsets = consumerOffsets == null ? Map.of() : Map.copyOf(consumerOffsets);
        Check.text("location", location);
        Check.text("tokenizerId", tokenizerId);
        Check.nonNegative("createdAtMillis", createdAtMillis);
    }
}
