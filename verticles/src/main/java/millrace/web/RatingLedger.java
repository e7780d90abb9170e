package millrace.web;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import millrace.protocol.Rating;

/**
 * What the web role knows of {@code millrace.ratings}: the ids of recent ratings (a re-sent rating is recognised by
 * its id and written once), the totals by kind and by rater, and the ratings of the last hour minute by minute, for the
 * page's charts. Fed from the topic (every replica's ratings) and from this replica's own acknowledgements.
 */
public final class RatingLedger {
    /** Totals by kind, and per minute of the last hour: {@code [minute start in ms, choice, score, edit]}. */
    public record Snapshot(Map<String, Long> total, List<long[]> perMinute) {}

    private static final int MINUTES = 60;
    /** Where a rating is on the topic: its receipt. */
    record Position(int partition, long offset) {}

    private final Map<String, Position> acknowledged;
    private final Map<String, Boolean> counted;
    private volatile boolean caughtUp;
    private final Map<Rating.Kind, Long> total = new EnumMap<>(Rating.Kind.class);
    private final Map<String, Long> byRater = new HashMap<>();
    private final TreeMap<Long, long[]> perMinute = new TreeMap<>();

    /** @param remembered how many recent rating ids are remembered (the window in which a re-send is recognised) */
    public RatingLedger(int remembered) {
        this.acknowledged = BoundedMaps.map(remembered);
        this.counted = BoundedMaps.map(remembered);
    }

    /** Where the rating with this id is on the topic, if it is there (written by any replica, as far as seen). */
    synchronized Position find(String id) {
        return acknowledged.get(id);
    }

    /**
     * This replica's {@code rating} was acknowledged by Kafka at {@code at}: known (a re-send is recognised) and counted
     * at once — the rater's count is right as soon as the 202 is — and not again when it is read from the topic.
     */
    synchronized void acknowledged(Rating rating, Position at) {
        record(rating, at);
    }

    /** Whether the ratings on the topic when the web role started have all been read (readiness). */
    boolean caughtUp() {
        return caughtUp;
    }

    void caughtUp(boolean value) {
        caughtUp = value;
    }

    /** A rating read from the topic; a second copy of one id (two replicas raced on a re-send) counts once. */
    synchronized void record(Rating r, Position at) {
        acknowledged.putIfAbsent(r.id(), at);
        if (counted.put(r.id(), Boolean.TRUE) != null) return;
        total.merge(r.kind(), 1L, Long::sum);
        byRater.merge(r.rater(), 1L, Long::sum);
        long minute = r.createdAtMillis() / 60_000 * 60_000;
        perMinute.computeIfAbsent(minute, m -> new long[Rating.Kind.values().length])[r.kind().ordinal()]++;
        while (perMinute.size() > MINUTES) perMinute.pollFirstEntry();
    }

    /**
     * Forgets the counts (not the acknowledged ids) before the topic is read again from its beginning, so that the
     * counts come out the same however often that happens.
     */
    synchronized void recount() {
        counted.clear();
        total.clear();
        byRater.clear();
        perMinute.clear();
    }

    synchronized long countOf(String rater) {
        return byRater.getOrDefault(rater, 0L);
    }

    /** Totals, and the last hour up to {@code nowMillis} minute by minute (minutes without ratings as zeros). */
    synchronized Snapshot snapshot(long nowMillis) {
        Map<String, Long> totals = new TreeMap<>();
        for (Rating.Kind k : Rating.Kind.values()) totals.put(k.label(), total.getOrDefault(k, 0L));
        List<long[]> minutes = new ArrayList<>();
        long last = nowMillis / 60_000 * 60_000;
        for (long m = last - (MINUTES - 1) * 60_000L; m <= last; m += 60_000) {
            long[] counts = perMinute.getOrDefault(m, new long[Rating.Kind.values().length]);
            long[] row = new long[1 + counts.length];
            row[0] = m;
            System.arraycopy(counts, 0, row, 1, counts.length);
            minutes.add(row);
        }
        return new Snapshot(totals, minutes);
    }
}
