package millrace.model;

/**
 * Linear warm-up to {@code maxLr}, then cosine decay to {@code minLr} at {@code decaySteps}, then {@code minLr}
 * (a stream has no last step, so the floor holds).
 */
public record LearningRateSchedule(float maxLr, float minLr, long warmupSteps, long decaySteps) {
    public float at(long step) {
        if (step < warmupSteps) return maxLr * (step + 1) / warmupSteps;
        if (step >= decaySteps) return minLr;
        double progress = (double) (step - warmupSteps) / Math.max(1, decaySteps - warmupSteps);
        return (float) (minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (maxLr - minLr));
    }
}
