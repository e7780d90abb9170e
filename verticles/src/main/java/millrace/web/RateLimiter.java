package millrace.web;

import java.util.HashMap;
import java.util.Map;

/**
 * A token bucket per key (a rater's name): {@code burst} actions at once, then {@code perSecond}. Keys are raters
 * the directory knows, so the map is bounded by the number of raters.
 */
final class RateLimiter {
    private final double perSecond;
    private final double burst;
    private final Map<String, double[]> buckets = new HashMap<>(); // key -> {tokens, last refill in ms}

    RateLimiter(double perSecond, int burst) {
        if (perSecond <= 0 || burst < 1) throw new IllegalArgumentException("rate limits must be > 0");
        this.perSecond = perSecond;
        this.burst = burst;
    }

    /** 0 when {@code key} may act now (and takes a token); otherwise the milliseconds until it may. */
    synchronized long acquire(String key, long nowMillis) {
        double[] b = buckets.computeIfAbsent(key, k -> new double[] {burst, nowMillis});
        b[0] = Math.min(burst, b[0] + (nowMillis - b[1]) / 1000.0 * perSecond);
        b[1] = nowMillis;
        if (b[0] >= 1) {
            b[0] -= 1;
            return 0;
        }
        return (long) Math.ceil((1 - b[0]) / perSecond * 1000);
    }
}
