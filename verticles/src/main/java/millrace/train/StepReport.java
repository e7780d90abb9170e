package millrace.train;

import ai.djl.Device;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import millrace.metrics.Metrics;
import millrace.protocol.ShardDoc;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a training step tells the outside: the step's metrics (loss, rate, model FLOP/s and MFU against the device's
 * peak), GPU memory now and then, ingest-to-training freshness of the documents it used first, and a log line every
 * ten steps with an ETA towards {@code --max-steps}.
 */
final class StepReport {
    private static final Logger LOG = LoggerFactory.getLogger(StepReport.class);

    private final double flopsPerToken;
    private final OptionalDouble peakFlops;
    private final Device device;
    private final long maxSteps;
    private final long startedNanos = System.nanoTime();
    private final long startedStep;
    /** Documents whose freshness was observed lately: a document's tokens can span a few shards. */
    private final Set<String> fresh = Collections.newSetFromMap(new LinkedHashMap<>(1024, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > 8192;
        }
    });

    StepReport(double flopsPerToken, OptionalDouble peakFlops, Device device, long maxSteps, long startedStep) {
        this.flopsPerToken = flopsPerToken;
        this.peakFlops = peakFlops;
        this.device = device;
        this.maxSteps = maxSteps;
        this.startedStep = startedStep;
    }

    /** A step taken (not skipped). */
    void taken(ModelTrainer.StepResult result, List<TrainWorker.QueuedRow> rows) {
        observeFreshness(rows);
        Metrics.TRAIN_STEPS.inc();
        Metrics.TRAIN_TOKENS.inc(result.tokens());
        Metrics.TRAIN_LOSS.set(result.loss());
        Metrics.TRAIN_LEARNING_RATE.set(result.learningRate());
        Metrics.TRAIN_GRAD_NORM.set(result.gradNorm());
        Metrics.TRAIN_TOKENS_PER_SECOND.set(result.tokens() / result.seconds());
        double flops = flopsPerToken * result.tokens() / result.seconds();
        Metrics.TRAIN_MODEL_FLOPS.set(flops);
        if (peakFlops.isPresent()) Metrics.TRAIN_MFU.set(flops / peakFlops.getAsDouble());
        Metrics.TRAIN_STEP_SECONDS.observe(result.seconds());
        if (result.step() % 10 == 0) observeDeviceMemory();
        if (result.step() % 10 == 0 || result.step() <= 1) {
            LOG.info("step {}{} loss {} lr {} grad norm {} ({} tokens/s){}", result.step(),
                    maxSteps > 0 ? "/" + maxSteps : "", String.format("%.4f", result.loss()),
                    String.format("%.2e", result.learningRate()), String.format("%.3f", result.gradNorm()),
                    Math.round(result.tokens() / result.seconds()), eta(result.step()));
        }
    }

    /** GPU memory in use; quietly nothing where CUDA's runtime library cannot be found to ask. */
    private void observeDeviceMemory() {
        if (!device.isGpu()) return;
        try {
            Metrics.TRAIN_DEVICE_MEMORY.set(ai.djl.util.cuda.CudaUtils.getGpuMemory(device).getUsed());
        } catch (RuntimeException | LinkageError e) {
            LOG.debug("no GPU memory reading: {}", e.toString());
        }
    }

    /** ", ETA 12:34" towards --max-steps at the pace since this worker started, or nothing. */
    private String eta(long step) {
        long done = step - startedStep;
        if (maxSteps <= 0 || done <= 0) return "";
        double perStep = (System.nanoTime() - startedNanos) / 1e9 / done;
        long seconds = Math.round(perStep * (maxSteps - step));
        return String.format(", ETA %d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60);
    }

    /** Ingest-to-training time of the documents whose tokens this step used first. */
    private void observeFreshness(List<TrainWorker.QueuedRow> taken) {
        long now = System.currentTimeMillis();
        for (TrainWorker.QueuedRow row : taken) {
            for (ShardDoc doc : row.docs()) {
                if (fresh.add(doc.id())) Metrics.TRAIN_FRESHNESS_SECONDS.observe((now - doc.ingestedAtMillis()) / 1000.0);
            }
        }
    }
}
