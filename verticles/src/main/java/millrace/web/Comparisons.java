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

    /** The rating a comparison already has in a slot, and ratings refused for that. */
    static final class Taken extends RuntimeException {
        Taken(String message) {
            super(message, null, false, false);
        }
    }

    /** Per comparison: slot (choice, score of A, edit of B, ...) → the id of the rating that holds it. */
    private final Map<String, Map<String, String>> slots = new java.util.HashMap<>();

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
        var oldest = byId.keySet().iterator();
        while (byId.size() > capacity && oldest.hasNext()) {
            slots.remove(oldest.next());
            oldest.remove();
        }
    }

    /**
     * One rating per slot of a comparison: one choice, one score of each answer, one edit of each answer — a rater who
     * changes their mind takes the rating back in the page (undo) rather than posting a second one. {@code ratingId}
     * may hold the slot again (a re-send); another rating gets {@link Taken}.
     */
    synchronized void claim(String comparisonId, String slot, String ratingId) {
        String holder = slots.computeIfAbsent(comparisonId, k -> new java.util.HashMap<>()).putIfAbsent(slot, ratingId);
        if (holder != null && !holder.equals(ratingId)) throw new Taken("this comparison already has your " + slot);
    }

    /** Frees a slot whose rating did not reach Kafka, so that a new attempt may take it. */
    synchronized void release(String comparisonId, String slot, String ratingId) {
        Map<String, String> s = slots.get(comparisonId);
        if (s != null) s.remove(slot, ratingId);
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
        while (it.hasNext()) {
            Comparison c = it.next();
            if (c.createdAtMillis() >= nowMillis - ttlMillis) break;
            slots.remove(c.id());
            it.remove();
        }
    }
}
