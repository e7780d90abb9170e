package millrace.cli;

import millrace.model.ModelConfig;

import millrace.model.AdamW;
import millrace.model.Gpt2Config;
import millrace.model.LearningRateSchedule;
import millrace.train.SyncSettings;
import millrace.train.TrainSettings;
import picocli.CommandLine.Option;

/**
 * How the train role trains: the model, the batch, the optimizer and its schedule, precision and device, checkpoints.
 * Shared by {@code train}, {@code run} and {@code up}; the defaults are the laptop demo's (a tiny model that visibly
 * learns within a minute on two cores).
 */
final class TrainOptions {
    @Option(names = "--model", description = "Model preset: tiny, small, gpt2-124m (GPT-2); llama-tiny, llama-small, "
            + "smollm2-135m (the Llama family) (default: tiny; with --base, the base's own architecture).")
    String model;

    @Option(names = "--model-name", defaultValue = "millrace",
            description = "Name checkpoints are written and announced under (default: ${DEFAULT-VALUE}).")
    String modelName;

    @Option(names = "--dropout", defaultValue = "0", description = "Dropout during training (default: ${DEFAULT-VALUE}).")
    float dropout;

    @Option(names = "--batch-size", defaultValue = "8", description = "Rows per optimizer step (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--micro-batch-size", description = "Rows per forward/backward pass; a step accumulates the gradients of batch-size / micro-batch-size passes (default: the batch size).")
    Integer microBatchSize;

    @Option(names = "--lr", description = "Peak learning rate, reached after the warm-up (default: 3e-3; 3e-5 continuing a --base).")
    Float learningRate;

    @Option(names = "--min-lr", description = "Learning rate at the end of the cosine decay and after it (default: 3e-4; 3e-6 continuing a --base).")
    Float minLearningRate;

    @Option(names = "--warmup-steps", defaultValue = "20", description = "Steps of linear warm-up (default: ${DEFAULT-VALUE}).")
    long warmupSteps;

    @Option(names = "--decay-steps", defaultValue = "5000", description = "Step at which the cosine decay reaches --min-lr (default: ${DEFAULT-VALUE}).")
    long decaySteps;

    @Option(names = "--weight-decay", defaultValue = "0.1", description = "AdamW weight decay of the matrices; biases, norms and embeddings never decay (default: ${DEFAULT-VALUE}).")
    float weightDecay;

    @Option(names = "--beta1", defaultValue = "0.9", description = "AdamW beta1 (default: ${DEFAULT-VALUE}).")
    float beta1;

    @Option(names = "--beta2", defaultValue = "0.95", description = "AdamW beta2 (default: ${DEFAULT-VALUE}).")
    float beta2;

    @Option(names = "--grad-clip", defaultValue = "1.0", description = "Global gradient-norm clipping threshold, 0 for none (default: ${DEFAULT-VALUE}).")
    float gradClip;

    @Option(names = "--seed", defaultValue = "1337", description = "Seed of the initial weights and of dropout (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--precision", defaultValue = "FP32", description = "FP32; or FP16 (dynamic loss scaling) or BF16 compute on fp32 master weights (default: ${DEFAULT-VALUE}).")
    TrainSettings.Precision precision;

    @Option(names = "--device", defaultValue = "auto", description = "cpu, gpu or auto: a GPU when libtorch sees one (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--eval-every", defaultValue = "50", description = "Steps between validation losses, 0 for never (default: ${DEFAULT-VALUE}).")
    int evalEverySteps;

    @Option(names = "--checkpoint-every", defaultValue = "10", description = "Seconds between checkpoints (default: ${DEFAULT-VALUE}).")
    long checkpointEverySeconds;

    @Option(names = "--keep-checkpoints", defaultValue = "3", description = "Checkpoints kept on disk, newest first (default: ${DEFAULT-VALUE}).")
    int keepCheckpoints;

    @Option(names = "--max-steps", defaultValue = "0",
            description = "Stop after this many optimizer steps, with a last checkpoint; 0 trains for as long as shards come (default: ${DEFAULT-VALUE}).")
    long maxSteps;

    @Option(names = "--diloco", description = "Train as one replica of a run: every trainer of this --model-name with "
            + "--diloco trains on its share of the shards and syncs every --sync-every steps over millrace.sync (DiLoCo).")
    boolean diloco;

    @Option(names = "--sync-every", description = "DiLoCo: inner steps per round (default: 500 for gpt2-124m, 50 for the small presets).")
    Integer syncEvery;

    @Option(names = "--sync-timeout", defaultValue = "60",
            description = "DiLoCo: seconds a round waits for the replicas it expects before it closes with those that arrived (default: ${DEFAULT-VALUE}).")
    double syncTimeoutSeconds;

    @Option(names = "--outer-lr", defaultValue = "0.7", description = "DiLoCo: outer Nesterov learning rate (default: ${DEFAULT-VALUE}).")
    float outerLr;

    @Option(names = "--outer-momentum", defaultValue = "0.9", description = "DiLoCo: outer Nesterov momentum (default: ${DEFAULT-VALUE}).")
    float outerMomentum;

    @Option(names = "--sync-encoding", defaultValue = "FP16",
            description = "DiLoCo: how pseudo-gradients travel, FP16 or INT8 (one scale per 1,024 numbers) (default: ${DEFAULT-VALUE}).")
    millrace.protocol.SyncMessage.Encoding syncEncoding;

    /** The settings for a tokenizer of {@code vocabSize} tokens and rows of {@code seqLen}; bad values say why. */
    TrainSettings settings(String tokenizer, int vocabSize, int seqLen) {
        return settings(tokenizer, vocabSize, seqLen, null);
    }

    /**
     * The same, for a model that continues {@code base} (null: a preset trained from scratch): its architecture, and
     * learning rates a hundred times lower by default — a pretrained model, not a fresh one.
     */
    TrainSettings settings(String tokenizer, int vocabSize, int seqLen, ModelConfig base) {
        if (base != null && model != null) {
            throw new IllegalArgumentException("--model " + model + " and --base: the base's own architecture is trained");
        }
        ModelConfig config = (base != null ? base : ModelConfig.preset(model == null ? "tiny" : model, vocabSize, seqLen))
                .withDropout(dropout);
        float learningRate = this.learningRate != null ? this.learningRate : base != null ? 3e-5f : 3e-3f;
        float minLearningRate = this.minLearningRate != null ? this.minLearningRate : base != null ? 3e-6f : 3e-4f;
        if (learningRate <= 0 || minLearningRate < 0 || minLearningRate > learningRate) {
            throw new IllegalArgumentException("need 0 <= --min-lr <= --lr and --lr > 0");
        }
        if (warmupSteps < 1 || decaySteps < warmupSteps) throw new IllegalArgumentException("need 1 <= --warmup-steps <= --decay-steps");
        if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1 || weightDecay < 0) {
            throw new IllegalArgumentException("need --beta1 and --beta2 in [0, 1) and --weight-decay >= 0");
        }
        return new TrainSettings(modelName, config, tokenizer, batchSize,
                new LearningRateSchedule(learningRate, minLearningRate, warmupSteps, decaySteps), gradClip,
                new AdamW.Settings(beta1, beta2, 1e-8f, weightDecay), seed, checkpointEverySeconds, keepCheckpoints,
                evalEverySteps, microBatchSize == null ? batchSize : microBatchSize, precision, device, maxSteps,
                diloco ? new SyncSettings(syncEvery == null ? SyncSettings.defaultSyncEvery(config) : syncEvery,
                        Math.round(syncTimeoutSeconds * 1000), outerLr, outerMomentum, syncEncoding) : null);
    }
}
