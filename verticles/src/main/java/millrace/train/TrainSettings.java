package millrace.train;

import millrace.model.AdamW;
import millrace.model.Gpt2Config;
import millrace.model.ModelConfig;
import millrace.model.LearningRateSchedule;

/**
 * How the train role trains.
 *
 * @param modelName the name checkpoints and policies are published under
 * @param model architecture
 * @param tokenizer the tokenizer (name or file, {@link millrace.tokenizer.Tokenizers#load}): shards of any other
 *     tokenizer are refused, and checkpoints carry it as {@code tokenizer.json}
 * @param batchSize rows per optimizer step
 * @param schedule learning rate by step
 * @param clipNorm global gradient-norm clipping threshold (0: off)
 * @param adam optimizer hyper-parameters
 * @param seed initialisation seed
 * @param checkpointEverySeconds how often weights are saved and announced on {@code millrace.checkpoints}
 * @param keepCheckpoints how many checkpoint directories to keep
 * @param evalEverySteps validation loss cadence (0: never)
 * @param microBatchSize rows per forward and backward pass: a step accumulates the gradients of
 *     {@code batchSize / microBatchSize} of them (gradient accumulation: the batch of a bigger machine on a smaller one)
 * @param precision FP32, or FP16 (dynamic loss scaling) or BF16 compute on fp32 master weights
 * @param device {@code cpu}, {@code gpu} or {@code auto} (a GPU when libtorch sees one)
 * @param maxSteps optimizer steps after which the trainer writes a last checkpoint and stops (0: train for as long as
 *     shards come, the streaming default)
 * @param sync null for a trainer that trains alone; else this trainer is a replica of a run of the model's name
 *     (DiLoCo, {@link ReplicaSync})
 */
public record TrainSettings(
        String modelName,
        ModelConfig model,
        String tokenizer,
        int batchSize,
        LearningRateSchedule schedule,
        float clipNorm,
        AdamW.Settings adam,
        long seed,
        long checkpointEverySeconds,
        int keepCheckpoints,
        int evalEverySteps,
        int microBatchSize,
        Precision precision,
        String device,
        long maxSteps,
        SyncSettings sync) {

    /**
     * The arithmetic of forward and backward passes; weights and optimizer state are always fp32. fp32; or fp16 or bf16 compute on fp32 master weights (fp16 with dynamic loss scaling, bf16
     * without: it has fp32's range). bf16 is what GPUs since the A100 and CPUs with AVX512-BF16 or AMX multiply fastest.
     */
    public enum Precision {
        FP32(ai.djl.ndarray.types.DataType.FLOAT32), FP16(ai.djl.ndarray.types.DataType.FLOAT16),
        BF16(ai.djl.ndarray.types.DataType.BFLOAT16);

        private final ai.djl.ndarray.types.DataType dataType;

        Precision(ai.djl.ndarray.types.DataType dataType) {
            this.dataType = dataType;
        }

        /** The dtype a step in this precision computes (and multiplies) in. */
        public ai.djl.ndarray.types.DataType dataType() {
            return dataType;
        }
    }

    public TrainSettings {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1");
        if (microBatchSize < 1 || microBatchSize > batchSize) {
            throw new IllegalArgumentException("micro-batch size must be within [1, batch size], was " + microBatchSize);
        }
        if (precision == null) precision = Precision.FP32;
        if (device == null) device = "cpu";
        if (!java.util.Set.of("cpu", "gpu", "auto").contains(device)) {
            throw new IllegalArgumentException("device must be cpu, gpu or auto, was " + device);
        }
        if (maxSteps < 0) throw new IllegalArgumentException("max steps must be >= 0 (0: no limit), was " + maxSteps);
        if (keepCheckpoints < 1) throw new IllegalArgumentException("keep at least 1 checkpoint, was " + keepCheckpoints);
        if (checkpointEverySeconds < 1) throw new IllegalArgumentException("checkpoint interval must be >= 1 s");
        if (clipNorm < 0) throw new IllegalArgumentException("gradient clipping threshold must be >= 0 (0: off)");
    }

    /** A trainer that trains alone. */
    public TrainSettings(String modelName, ModelConfig model, String tokenizer, int batchSize,
            LearningRateSchedule schedule, float clipNorm, AdamW.Settings adam, long seed, long checkpointEverySeconds,
            int keepCheckpoints, int evalEverySteps, int microBatchSize, Precision precision, String device, long maxSteps) {
        this(modelName, model, tokenizer, batchSize, schedule, clipNorm, adam, seed, checkpointEverySeconds,
                keepCheckpoints, evalEverySteps, microBatchSize, precision, device, maxSteps, null);
    }

    /** Without gradient accumulation: one forward and backward pass per step. */
    public TrainSettings(String modelName, ModelConfig model, String tokenizer, int batchSize,
            LearningRateSchedule schedule, float clipNorm, AdamW.Settings adam, long seed, long checkpointEverySeconds,
            int keepCheckpoints, int evalEverySteps) {
        this(modelName, model, tokenizer, batchSize, schedule, clipNorm, adam, seed, checkpointEverySeconds,
                keepCheckpoints, evalEverySteps, batchSize, Precision.FP32, "cpu", 0);
    }

    public TrainSettings withMicroBatchSize(int rows) {
        return new TrainSettings(modelName, model, tokenizer, batchSize, schedule, clipNorm, adam, seed,
                checkpointEverySeconds, keepCheckpoints, evalEverySteps, rows, precision, device, maxSteps, sync);
    }

    public TrainSettings withHardware(Precision newPrecision, String newDevice) {
        return new TrainSettings(modelName, model, tokenizer, batchSize, schedule, clipNorm, adam, seed,
                checkpointEverySeconds, keepCheckpoints, evalEverySteps, microBatchSize, newPrecision, newDevice, maxSteps, sync);
    }

    /** The device {@link #device} names, resolved against what libtorch sees. */
    public ai.djl.Device resolveDevice() {
        boolean gpu = device.equals("gpu") || device.equals("auto") && ai.djl.engine.Engine.getEngine("PyTorch").getGpuCount() > 0;
        if (device.equals("gpu") && ai.djl.engine.Engine.getEngine("PyTorch").getGpuCount() == 0) {
            throw new IllegalStateException("--device gpu, but libtorch sees no GPU");
        }
        return gpu ? ai.djl.Device.gpu() : ai.djl.Device.cpu();
    }

    public TrainSettings withSchedule(LearningRateSchedule newSchedule) {
        return new TrainSettings(modelName, model, tokenizer, batchSize, newSchedule, clipNorm, adam, seed,
                checkpointEverySeconds, keepCheckpoints, evalEverySteps, microBatchSize, precision, device, maxSteps, sync);
    }

    public TrainSettings withSeed(long newSeed) {
        return new TrainSettings(modelName, model, tokenizer, batchSize, schedule, clipNorm, adam, newSeed,
                checkpointEverySeconds, keepCheckpoints, evalEverySteps, microBatchSize, precision, device, maxSteps, sync);
    }

    /** A replica of a DiLoCo run ({@code sync}), or (null) a trainer that trains alone. */
    public TrainSettings withSync(SyncSettings newSync) {
        return new TrainSettings(modelName, model, tokenizer, batchSize, schedule, clipNorm, adam, seed,
                checkpointEverySeconds, keepCheckpoints, evalEverySteps, microBatchSize, precision, device, maxSteps, newSync);
    }

    /** The laptop demo: a tiny model on GPT-2's vocabulary that visibly learns within a minute on two cores. */
    public static TrainSettings tinyDemo(String tokenizer, int vocabSize, int seqLen) {
        return new TrainSettings("millrace", Gpt2Config.tiny(vocabSize, seqLen), tokenizer, 8,
                new LearningRateSchedule(3e-3f, 3e-4f, 20, 5000), 1.0f, AdamW.Settings.defaults(), 1337, 10, 3, 50);
    }
}
