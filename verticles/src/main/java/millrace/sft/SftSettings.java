package millrace.sft;

import java.nio.file.Path;

/**
 * A fine-tuning run.
 *
 * @param modelName the fine-tuned model's name: its checkpoints go under {@code <data-dir>/checkpoints/<modelName>}
 * @param base the checkpoint to start from (its tokenizer gains the chat markers, its embedding their rows)
 * @param data a JSON Lines file of examples, or null to read {@code millrace.sft}
 * @param epochs passes over a file
 * @param batchSize examples per step
 * @param learningRate peak learning rate (after the warm-up; cosine to {@code minLearningRate} at the last step)
 * @param minLearningRate the floor of the cosine
 * @param warmupSteps linear warm-up
 * @param maxSteps stop after this many steps (0: when the epochs are done; required with a topic)
 * @param seed the order of each epoch's examples
 * @param checkpointEverySeconds between checkpoints (and one at the end)
 * @param keepCheckpoints checkpoints kept
 * @param packed examples packed back to back into rows of the model's context (each still sees only itself), or each
 *     its own row, padded
 * @param device cpu, gpu or auto (a GPU when libtorch sees one); fine-tuning computes in fp32
 */
public record SftSettings(String modelName, Path base, Path data, int epochs, int batchSize, float learningRate,
        float minLearningRate, int warmupSteps, long maxSteps, long seed, long checkpointEverySeconds, int keepCheckpoints,
        boolean packed, String device) {
    public SftSettings {
        if (modelName == null || modelName.isBlank()) throw new IllegalArgumentException("--model-name is required");
        if (base == null) throw new IllegalArgumentException("--base is required");
        if (epochs < 1 || batchSize < 1) throw new IllegalArgumentException("--epochs and --batch-size must be >= 1");
        if (!(learningRate > 0) || !(minLearningRate >= 0)) throw new IllegalArgumentException("learning rates must be > 0");
        if (warmupSteps < 0 || maxSteps < 0) throw new IllegalArgumentException("steps must be >= 0");
        if (data == null && maxSteps == 0) throw new IllegalArgumentException("--from-topic needs --max-steps");
        if (checkpointEverySeconds < 1 || keepCheckpoints < 1) throw new IllegalArgumentException("checkpoints: every >= 1 s, keep >= 1");
        if (device == null) device = "cpu";
    }
}
