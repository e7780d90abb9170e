package millrace.train;

import millrace.model.ModelConfig;
import millrace.protocol.SyncMessage;

/**
 * How trainer replicas of one model train as one run (DiLoCo): every {@code syncEvery} optimizer steps each replica
 * publishes its pseudo-gradient on {@code millrace.sync}, and the mean of the round's goes through an outer Nesterov
 * step.
 *
 * @param syncEvery inner steps per round (H)
 * @param timeoutMillis how long a round waits for the replicas it expects before it closes with those that arrived
 * @param outerLr the outer learning rate (the paper's 0.7)
 * @param outerMomentum the outer Nesterov momentum (the paper's 0.9)
 * @param encoding how pseudo-gradients travel: fp16, or int8 with one scale per block
 */
public record SyncSettings(int syncEvery, long timeoutMillis, float outerLr, float outerMomentum,
        SyncMessage.Encoding encoding) {
    public SyncSettings {
        if (syncEvery < 1) throw new IllegalArgumentException("--sync-every must be >= 1, was " + syncEvery);
        if (timeoutMillis < 1) throw new IllegalArgumentException("--sync-timeout must be > 0");
        if (!(outerLr > 0)) throw new IllegalArgumentException("--outer-lr must be > 0, was " + outerLr);
        if (outerMomentum < 0 || outerMomentum >= 1) throw new IllegalArgumentException("--outer-momentum must be in [0, 1)");
        if (encoding == null) encoding = SyncMessage.Encoding.FP16;
    }

    /**
     * H sized for the model: 500 for GPT-2-sized models, as in the DiLoCo paper; 50 for the small CPU presets, whose
     * runs are a few thousand steps long.
     */
    public static int defaultSyncEvery(ModelConfig model) {
        return model.width() >= 512 ? 500 : 50;
    }
}
