package millrace.web;

import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The comparisons this web role produced, so that a rating can only be about answers it really showed: a rating
 * names a comparison by its unguessable id, and the prompt, the answers and the policy version come from here, never
 * from the client. Bounded: the oldest are forgotten first, and none is kept past its time to live (a rating then asks
 * the rater to compare again).
 */
final class Comparisons {
    /** What was shown to whom, and which weights produced it. */
    record Comparison(String id, String rater, ServingModel.Policy policy, String prompt, List<String> answers,
            long createdAtMillis) {}

    private static final SecureRandom RANDOM = new SecureRandom();
    private final int capacity;
    private final long ttlMillis;
    private final Map<String, Comparison> byId = new LinkedHashMap<>();

    Comparisons(int capacity, long ttlMillis) {
        this.capacity = capacity;
        this.ttlMillis = ttlMillis;
    }

    static String newId() {
        byte[] b = new byte[16];
        RANDOM.nextBytes(b);
        return "c-" + HexFormat.of().formatHex(b);
    }

    synchronized void add(Comparison c) {
        byId.put(c.id(), c);
        var oldest = byId.entrySet().iterator();
        while (byId.size() > capacity && oldest.hasNext()) {
            oldest.next();
            oldest.remove();
        }
    }

    /** The comparison {@code id} shown to {@code rater}, if it is still known. */
    synchronized Optional<Comparison> find(String id, String rater, long nowMillis) {
        expire(nowMillis);
        Comparison c = byId.get(id);
        return c != null && c.rater().equals(rater) ? Optional.of(c) : Optional.empty();
    }

    synchronized int size() {
        return byId.size();
    }

    /** Entries are in insertion order, so the expired ones are at the front. */
    private void expire(long nowMillis) {
        var it = byId.values().iterator();
        while (it.hasNext() && it.next().createdAtMillis() < nowMillis - ttlMillis) it.remove();
    }
}
