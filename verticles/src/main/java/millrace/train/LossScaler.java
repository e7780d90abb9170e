package millrace.train;

/**
 * Dynamic loss scaling for fp16 training (Micikevicius et al. 2018, as torch.cuda.amp.GradScaler): the loss is
 * multiplied by the scale before backward so that small gradients survive fp16; a step whose gradients overflow is
 * skipped and the scale halved; after {@code growthInterval} good steps in a row it doubles.
 */
public final class LossScaler {
    private final int growthInterval;
    private float scale;
    private int goodSteps;

    public LossScaler(float initialScale, int growthInterval) {
        if (!(initialScale >= 1)) throw new IllegalArgumentException("initial scale must be >= 1");
        this.scale = initialScale;
        this.growthInterval = growthInterval;
    }

    /** GradScaler's defaults: 2^16, doubling after 2000 good steps. */
    public static LossScaler standard() {
        return new LossScaler(65536f, 2000);
    }

    public float scale() {
        return scale;
    }

    /** The gradients were not finite: skip the step, halve the scale (never below 1). */
    public void overflowed() {
        scale = Math.max(1f, scale / 2);
        goodSteps = 0;
    }

    /** A step went through. */
    public void stepped() {
        if (++goodSteps >= growthInterval) {
            scale *= 2;
            goodSteps = 0;
        }
    }
}
