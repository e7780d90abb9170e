package millrace.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Map;
import millrace.model.AdamW;
import millrace.model.FusedLinearCrossEntropy;
import millrace.model.LanguageModel;
import millrace.model.GradientLane;
import millrace.model.InPlaceCrossEntropy;
import millrace.model.Scalars;

/**
 * One model, its optimizer, and the training step: forward, loss, backward, global-norm clipping, AdamW. Every step
 * runs in its own NDManager, so memory stays flat however long training runs.
 */
public final class ModelTrainer implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ModelTrainer.class);

    /** What one step did. {@code skipped}: the loss or gradient was not finite and no update was made. */
    public record StepResult(long step, float loss, float gradNorm, float learningRate, int tokens, double seconds,
            boolean skipped, boolean overflowed) {}

    private TrainSettings settings;
    private final NDManager root;
    private final LanguageModel model;
    private final AdamW optimizer;
    private long step;
    private long tokensSeen;
    /** Rows of logits the fused linear loss holds at once: 128 × 50,257 fp32 is 26 MB. */
    private static final int LOSS_CHUNK_ROWS = 128;
    private Loss lossKernel = Loss.IN_PLACE;
    /** {@link Loss#IN_PLACE}'s kernel, made on first use. */
    private InPlaceCrossEntropy inPlaceLoss;
    /** FP16 only: the loss scale; null in fp32. */
    private LossScaler scaler;
    /** Whether a step waits for the device at each phase's end to time it ({@link #timePhases}). */
    private boolean timingPhases;
    private Phases lastPhases;

    /**
     * Where the last step's time went, in ms: the forward pass and loss, backward, and the update (clipping, AdamW,
     * zeroing). The in-place loss makes the projection, the logits' gradient and the states' gradient in the forward
     * phase and adds the weight's gradient in the backward one; the fused linear one makes the projection's gradients
     * in the forward phase.
     */
    public record Phases(double forwardMs, double backwardMs, double updateMs) {}

    /** Starts from {@code model} (fresh or loaded) at step {@code startStep}. */
    public ModelTrainer(TrainSettings settings, NDManager root, LanguageModel model, long startStep, long tokensSeen) {
        this.settings = settings;
        this.root = root;
        this.model = model;
        this.model.requireGradients();
        materializeGradients();
        this.optimizer = new AdamW(model.parameters(), model.embeddings(), settings.adam(), root);
        this.step = startStep;
        this.scaler = settings.precision() == TrainSettings.Precision.FP16 ? LossScaler.standard() : null;
        this.tokensSeen = tokensSeen;
    }

    /**
     * Gives every parameter its gradient array now, zeros: the losses that differentiate the output projection by hand,
     * outside autograd, add its gradient into the array the optimizer then reads, and an output projection of its own
     * (a Llama-family model with untied embeddings) is reached by no backward pass. DJL's {@code getGradient} of a
     * parameter no backward has reached returns a fresh zero array each time, so the gradient added to it was lost, and
     * the head never learned.
     */
    private void materializeGradients() {
        try (GradientLane.Pass collector = GradientLane.open(); NDManager scope = root.newSubManager()) {
            model.attachTo(scope);
            NDArray zero = null;
            for (NDArray p : model.parameters().values()) {
                NDArray term = Scalars.times(p.sum(), 0f);
                zero = zero == null ? term : zero.add(term);
            }
            collector.backward(zero);
        }
    }

    public static NDManager newRootManager() {
        return NDManager.newBaseManager(Device.cpu(), "PyTorch");
    }

    /** The root manager for {@code settings}' device (a GPU when asked for, or when {@code auto} finds one). */
    public static NDManager newRootManager(TrainSettings settings) {
        return NDManager.newBaseManager(settings.resolveDevice(), "PyTorch");
    }

    /** Replaces the learning-rate schedule (a fine-tuning run knows its length only once it has read its data). */
    public void useSchedule(millrace.model.LearningRateSchedule schedule) {
        settings = settings.withSchedule(schedule);
    }

    /** How a step computes the cross-entropy and its gradient. */
    public enum Loss {
        /** {@code log_softmax} and a gather through autograd, over the whole logits: what the others are tested against. */
        PLAIN,
        /**
         * The default: the output projection outside autograd, into a logits buffer the kernel keeps, then the loss
         * and its gradient in one pass over the logits, written over them, and the projection's two gradients by hand
         * ({@link InPlaceCrossEntropy#projectLossAndGradient}); measured faster and lighter than {@code PLAIN} in fp32
         * and bf16 on a CPU.
         */
        IN_PLACE,
        /**
         * fp32 only (others run {@code IN_PLACE}): the output projection and the loss a chunk of rows at a time
         * ({@link FusedLinearCrossEntropy}); the logits never exist whole, the lightest, but slower on a CPU.
         */
        FUSED_LINEAR;

        /** The loss a step in {@code precision} runs when asked for this one. */
        public Loss in(TrainSettings.Precision precision) {
            return this == FUSED_LINEAR && precision != TrainSettings.Precision.FP32 ? IN_PLACE : this;
        }
    }

    public void useLoss(Loss loss) {
        this.lossKernel = loss;
    }

    /**
     * On: each step waits for the device at the end of its forward, backward and update phases and records how long
     * each took ({@link #lastPhases}). The waits cost a GPU its overlap of host and device work, so a run timed for
     * throughput leaves this off (the default).
     */
    public void timePhases(boolean on) {
        this.timingPhases = on;
        this.lastPhases = null;
    }

    /** The last step's phases while {@link #timePhases} is on; null otherwise. */
    public Phases lastPhases() {
        return lastPhases;
    }

    /** The loss scale of fp16 training (1 in fp32). */
    public float lossScale() {
        return scaler == null ? 1f : scaler.scale();
    }

    /** Replaces the fp16 loss scaler (tests start it at another scale). */
    void useLossScaler(LossScaler s) {
        if (scaler == null) throw new IllegalStateException("loss scaling is for FP16 training");
        scaler = s;
    }

    /**
     * One optimizer step on {@code rows}, each {@code T + 1} tokens (inputs and the next-token targets). The rows go
     * through forward and backward {@code microBatchSize} at a time, each pass in its own NDManager scope (so only
     * one micro-batch's activations are alive at once), the gradients accumulating, weighted by each pass's share of
     * the rows; the update then runs once. With dropout, each pass seeds the generator from (seed, step, pass): the
     * random state is a function of what the checkpoint holds, so a resumed run draws the same masks.
     *
     * <p>FP16 and BF16: each pass runs on low-precision casts of the fp32 weights made inside autograd
     * ({@link LanguageModel#trunk}, or {@link LanguageModel#forwardMixed} for the plain loss), the gradients arrive in the fp32 weights' own gradients, and the fp32 weights take
     * the update. FP16 also scales the loss before backward and unscales the gradients with the clipping factor; an
     * overflow skips the step and halves the scale. BF16 has fp32's range and needs no scaling.
     */
    public StepResult step(List<int[]> rows) {
        long started = System.nanoTime();
        int b = rows.size();
        int t = rows.get(0).length - 1;
        long[] flat = flatten(rows);
        float lr = settings.schedule().at(step);
        float loss = 0;
        int micro = Math.min(settings.microBatchSize(), b);
        float lossScale = lossScale();
        long forwardNs = 0;
        long backwardNs = 0;
        // scopes are siblings, never nested: DJL's tempAttach inside a tempAttach hands the parameters to the outer
        // scope for good, which would free them with it
        // the gradient lane: the feedback role may share this process, and DJL records one set of gradients at a time
        try (GradientLane.Pass collector = GradientLane.open()) {
            for (int from = 0, pass = 0; from < b; from += micro, pass++) {
                int n = Math.min(micro, b - from);
                try (NDManager scope = root.newSubManager()) {
                    long passStarted = System.nanoTime();
                    model.attachTo(scope);
                    if (settings.model().dropout() > 0) Engine.getEngine("PyTorch").setRandomSeed(passSeed(pass));
                    NDArray batch = scope.create(java.util.Arrays.copyOfRange(flat, from * (t + 1), (from + n) * (t + 1)),
                            new Shape(n, t + 1));
                    NDArray inputs = batch.get(":, 0:" + t);
                    float weight = lossScale * n / b;
                    Loss kind = lossKernel.in(settings.precision());
                    if (kind == Loss.FUSED_LINEAR) {
                        // the projection and the loss a chunk of rows at a time, their gradients by hand
                        NDArray hidden = model.hidden(inputs, true).reshape(n * t, settings.model().width());
                        FusedLinearCrossEntropy.Result r = FusedLinearCrossEntropy.of(hidden, model.outputWeight(),
                                batch.get(":, 1:").reshape(n * t), LOSS_CHUNK_ROWS);
                        if (timingPhases) awaitDevice(r.surrogate()); // the last chunk's products are still queued
                        long forwardDone = System.nanoTime();
                        forwardNs += forwardDone - passStarted;
                        collector.backward(weight == 1f ? r.surrogate() : Scalars.times(r.surrogate(), weight));
                        model.outputWeight().getGradient().addi(weight == 1f ? r.weightGradient()
                                : Scalars.times(r.weightGradient(), weight));
                        loss += r.loss() * n / b;
                        if (timingPhases) awaitDevice(model.outputWeight().getGradient());
                        backwardNs += System.nanoTime() - forwardDone;
                        continue;
                    }
                    DataType dtype = settings.precision().dataType();
                    if (kind == Loss.PLAIN) {
                        NDArray logits = dtype == DataType.FLOAT32 ? model.forward(inputs, true)
                                : model.forwardMixed(inputs, true, dtype);
                        NDArray passLoss = LanguageModel.loss(logits, batch.get(":, 1:"));
                        if (timingPhases) awaitDevice(passLoss);
                        long forwardDone = System.nanoTime();
                        forwardNs += forwardDone - passStarted;
                        collector.backward(weight == 1f ? passLoss : Scalars.times(passLoss, weight));
                        loss += passLoss.getFloat() * n / b; // read back after backward: the device is done
                        backwardNs += System.nanoTime() - forwardDone;
                        continue;
                    }
                    long tokens = (long) n * t;
                    // the projection, the pass's weighted mean loss and their gradients outside autograd, the logits
                    // in the kernel's buffer; backward from the states, then the weight's share of the projection
                    LanguageModel.Trunk trunk = model.trunk(inputs, true, dtype);
                    NDArray states = trunk.hidden().reshape(tokens, settings.model().width());
                    InPlaceCrossEntropy.Projected projected = inPlaceLoss().projectLossAndGradient(states,
                            trunk.outputWeight(), batch.get(":, 1:").reshape(tokens), weight / tokens);
                    if (timingPhases) awaitDevice(projected.lossSum());
                    long forwardDone = System.nanoTime();
                    forwardNs += forwardDone - passStarted;
                    collector.backward(states, projected.stateGradient());
                    inPlaceLoss().addWeightGradient(model.outputWeight().getGradient(), states);
                    loss += projected.lossSum().getFloat() / tokens * n / b; // read back after backward: the device is done
                    if (timingPhases) awaitDevice(model.outputWeight().getGradient());
                    backwardNs += System.nanoTime() - forwardDone;
                }
            }
        }
        long updateStarted = System.nanoTime();
        Update update = applyGradients(loss, (long) b * t);
        if (timingPhases) {
            awaitDevice(model.outputWeight());
            lastPhases = new Phases(forwardNs / 1e6, backwardNs / 1e6, (System.nanoTime() - updateStarted) / 1e6);
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        return new StepResult(step, loss, update.gradNorm(), lr, b * t, seconds, update.skipped(), update.overflowed());
    }

    /** What {@link #applyGradients} did. */
    public record Update(float gradNorm, float learningRate, boolean skipped, boolean overflowed) {}

    /**
     * The optimizer step with the gradients the parameters hold now (accumulated by backward passes through the
     * {@link GradientLane}; in fp16, scaled by {@link #lossScale}): global-norm clipping, then AdamW at the schedule's
     * learning rate — or no update when {@code loss} or the gradients are not finite. The gradients are zeroed either
     * way. {@code tokens}: what the step trained on, for the count of tokens seen.
     */
    public Update applyGradients(float loss, long tokens) {
        float lr = settings.schedule().at(step);
        float lossScale = lossScale();
        try (NDManager scope = root.newSubManager()) {
            model.attachTo(scope);
            Map<String, NDArray> grads = new java.util.LinkedHashMap<>();
            model.parameters().forEach((name, p) -> grads.put(name, p.getGradient()));
            float norm = optimizer.globalNorm(grads.values(), scope).getFloat() / lossScale; // the gradients are lossScale times too big
            boolean skipped = !Float.isFinite(loss) || !Float.isFinite(norm);
            boolean overflowed = skipped && scaler != null && Float.isFinite(loss) && lossScale > 1f;
            float scale = (settings.clipNorm() > 0 && norm > settings.clipNorm() ? settings.clipNorm() / norm : 1f) / lossScale;
            if (overflowed) {
                scaler.overflowed(); // fp16 overflow at this scale: expected now and then, not a fault
            } else if (skipped) {
                LOG.warn("step {}: loss {} gradient norm {}; non-finite gradients in {}", step + 1, loss, norm,
                        nonFinite(grads));
            } else {
                optimizer.step(model.parameters(), grads, lr, scale, scope);
                if (scaler != null) scaler.stepped();
                step++;
                tokensSeen += tokens;
            }
            // zero_() rather than multiplying by 0, which would keep a NaN gradient NaN for ever
            optimizer.zero(grads.values());
            return new Update(norm, lr, skipped, overflowed);
        }
    }

    private InPlaceCrossEntropy inPlaceLoss() {
        if (inPlaceLoss == null) {
            inPlaceLoss = new InPlaceCrossEntropy((ai.djl.pytorch.engine.PtNDManager) root, settings.model().vocabSize());
        }
        return inPlaceLoss;
    }

    /** The manager the trainer's step scopes are made in (the model's parent). */
    public NDManager root() {
        return root;
    }

    /** Waits until the device has computed {@code x} and everything queued before it (a read of one element). */
    private static void awaitDevice(NDArray x) {
        try (NDArray flat = x.flatten(); NDArray one = flat.get(0)) { // closing frees the handles, not x's storage
            one.toFloatArray();
        }
    }

    /** The generator seed of one forward pass: a hash of the run's seed, the step and the pass. */
    private int passSeed(int pass) {
        long h = settings.seed() * 0x9E3779B97F4A7C15L + step * 0xBF58476D1CE4E5B9L + pass;
        h ^= h >>> 31;
        return (int) (h ^ (h >>> 32)) & Integer.MAX_VALUE;
    }

    /** Names of the parameters whose gradient holds a NaN or an infinity (for the log of a skipped step). */
    private static List<String> nonFinite(Map<String, NDArray> grads) {
        List<String> bad = new java.util.ArrayList<>();
        grads.forEach((name, g) -> {
            if (!Float.isFinite(g.abs().sum().getFloat())) bad.add(name);
        });
        return bad;
    }

    /** Rows of equal length, row after row, as the int64 ids a batch is made of. */
    private static long[] flatten(List<int[]> rows) {
        int len = rows.get(0).length;
        long[] flat = new long[rows.size() * len];
        for (int i = 0; i < rows.size(); i++) {
            int[] row = rows.get(i);
            if (row.length != len) throw new IllegalArgumentException("rows differ in length");
            for (int j = 0; j < len; j++) flat[i * len + j] = row[j];
        }
        return flat;
    }

    /** Mean loss over {@code rows} without recording gradients. */
    public float evaluate(List<int[]> rows) {
        if (rows.isEmpty()) return Float.NaN;
        double total = 0;
        int batches = 0;
        for (int start = 0; start < rows.size(); start += settings.batchSize()) {
            List<int[]> batchRows = rows.subList(start, Math.min(rows.size(), start + settings.batchSize()));
            int b = batchRows.size();
            int t = batchRows.get(0).length - 1;
            long[] flat = flatten(batchRows);
            try (NDManager scope = root.newSubManager()) {
                model.attachTo(scope);
                NDArray batch = scope.create(flat, new Shape(b, t + 1));
                NDArray logits = model.forward(batch.get(":, 0:" + t), false).stopGradient();
                total += LanguageModel.loss(logits, batch.get(":, 1:")).getFloat();
                batches++;
            }
        }
        return (float) (total / batches);
    }

    /**
     * The whole state of a trainer at one step: copies of the weights and optimizer moments in native memory (not the
     * Java heap: a 124M model's are 1.5 GB), and the counters. Close it when done with it.
     */
    public static final class Snapshot implements AutoCloseable {
        private final NDManager manager;
        private final List<NDArray> weights;
        private final List<NDArray> moments;
        private final long step;
        private final long tokensSeen;

        private Snapshot(NDManager manager, List<NDArray> weights, List<NDArray> moments, long step, long tokensSeen) {
            this.manager = manager;
            this.weights = weights;
            this.moments = moments;
            this.step = step;
            this.tokensSeen = tokensSeen;
        }

        @Override
        public void close() {
            manager.close();
        }
    }

    public Snapshot snapshot() {
        NDManager copies = root.newSubManager();
        return new Snapshot(copies, copies(model.parameters().values(), copies), copies(optimizer.state().values(), copies),
                step, tokensSeen);
    }

    private static List<NDArray> copies(java.util.Collection<NDArray> arrays, NDManager owner) {
        List<NDArray> out = new java.util.ArrayList<>();
        for (NDArray a : arrays) {
            NDArray copy = a.duplicate();
            copy.attach(owner);
            out.add(copy);
        }
        return out;
    }

    /** Puts the trainer back where {@code s} was taken, bit for bit. */
    public void restore(Snapshot s) {
        optimizer.copy(new java.util.ArrayList<>(model.parameters().values()), s.weights);
        optimizer.copy(new java.util.ArrayList<>(optimizer.state().values()), s.moments);
        step = s.step;
        tokensSeen = s.tokensSeen;
        optimizer.restoreSteps(step);
    }

    /** The weights as one vector, parameter after parameter in {@link LanguageModel#parameters}' order (a DiLoCo replica's view). */
    public float[] weightVector() {
        long total = model.parameterCount();
        if (total > Integer.MAX_VALUE - 8) throw new IllegalStateException(total + " weights do not fit one Java array");
        float[] out = new float[(int) total];
        int at = 0;
        for (NDArray p : model.parameters().values()) {
            float[] values = p.toFloatArray();
            System.arraycopy(values, 0, out, at, values.length);
            at += values.length;
        }
        return out;
    }

    /** Sets every weight from a vector in {@link #weightVector}'s order (the optimizer's moments stay). */
    public void setWeightVector(float[] values) {
        try (NDManager scope = root.newSubManager()) {
            List<NDArray> params = new java.util.ArrayList<>(model.parameters().values());
            List<NDArray> from = new java.util.ArrayList<>();
            int at = 0;
            for (NDArray p : params) {
                int n = (int) p.size();
                from.add(scope.create(java.util.Arrays.copyOfRange(values, at, at + n), p.getShape()));
                at += n;
            }
            if (at != values.length) throw new IllegalArgumentException(values.length + " values for " + at + " weights");
            optimizer.copy(params, from);
        }
    }

    /** The optimizer's state, for checkpoints (the weights are {@link #model()}'s). */
    public void saveOptimizer(java.io.OutputStream out) throws java.io.IOException {
        optimizer.save(out);
    }

    /** Restores the optimizer's state of a checkpoint taken at this trainer's step. */
    public void loadOptimizer(java.io.InputStream in) throws java.io.IOException {
        optimizer.load(in, step);
    }

    public LanguageModel model() {
        return model;
    }

    public long step() {
        return step;
    }

    /** The run's random seed (see {@link #step}). */
    public long seed() {
        return settings.seed();
    }

    public long tokensSeen() {
        return tokensSeen;
    }

    @Override
    public void close() {
        if (inPlaceLoss != null) inPlaceLoss.close();
        optimizer.close();
        model.close();
    }
}
