package millrace.train;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.LongSupplier;
import millrace.protocol.SyncMessage;

/**
 * The rounds of one model's replicas, read off {@code millrace.sync} in its one order. The rule every replica applies
 * to the same records, so every replica sums the same contributions, in the same order, to the same bits:
 * <ul>
 *   <li>a contribution is judged when its last chunk arrives, and summed then if admitted; the first
 *       {@link SyncMessage.Close} of the open round closes it with what was summed before that mark (later closes of
 *       it are ignored);
 *   <li>one completed after the mark (a slow replica, or chunks that straddle it) is summed by the next round, so no
 *       published work is lost;
 *   <li>refused, and counted: one whose size is not the model's; one of the open round whose base digest is not the
 *       open round's (its replica began elsewhere); one of a round more than {@link #LATE_ROUNDS} back; one of a step
 *       its replica has had summed already (published again), so nothing is counted twice. A refused contribution's
 *       work is lost to the run: it comes from a replica in a state no restart of Millrace's own produces.
 * </ul>
 * Judging at the last chunk matters for restarts: a replica restored from a checkpoint replays from {@link #replayFrom},
 * which may be before the last close it applied; a contribution completed before that close was summed by it, and one
 * completed after it is judged then, exactly as the replicas that never stopped judged it. No Kafka here:
 * {@link ReplicaSync} feeds it.
 */
final class SyncLog {
    /** A replica's pseudo-gradient for a round, summed. */
    record Contribution(String replica, long round, long step, int steps, long tokens) {}

    /**
     * A closed round: what it summed, in log order; the sum of their pseudo-gradients ({@code null} when none; the
     * round's to keep, and {@link ReplicaSync} divides it into the mean in place); who closed it, and how many replicas
     * the closer awaited.
     */
    record Round(long round, List<Contribution> contributions, float[] sum, String closedBy, int expected) {
        /** Replicas that contributed to this round on time. */
        long onTime() {
            return contributions.stream().filter(c -> c.round() == round).map(Contribution::replica).distinct().count();
        }

        /** The closer gave up on some replica it awaited. */
        boolean timedOut() {
            return onTime() < expected;
        }
    }

    /** Why a record was refused, for the metric and the log. */
    interface Refusals {
        void refused(String reason, String replica, String detail);
    }

    private static final class Partial {
        final long firstOffset;
        final SyncMessage.Chunk[] chunks;
        int received;

        Partial(long firstOffset, int chunks) {
            this.firstOffset = firstOffset;
            this.chunks = new SyncMessage.Chunk[chunks];
        }
    }

    /** How many rounds late a contribution may be and still be summed (and how long an incomplete one is kept). */
    static final int LATE_ROUNDS = 16;

    private final String model;
    private final int size;
    private final LongSupplier baseDigest;
    private final Refusals refusals;
    private long round;
    /** Offset after the last close applied. */
    private long afterClose;
    private final Map<String, Partial> partial = new LinkedHashMap<>();
    /** The open round's sum so far, its contributions and where each began on the log. */
    private float[] sum;
    private final List<Contribution> summed = new ArrayList<>();
    private final Map<String, Long> summedFirstOffsets = new HashMap<>();
    /** Per replica, the newest step of a contribution summed by a closed round: an older or equal one is a repeat. */
    private final Map<String, Long> closedSteps;

    /**
     * @param size numbers in the model's pseudo-gradient
     * @param round the open round
     * @param afterClose where its records begin in the log
     * @param closedSteps per replica, the newest step a closed round summed (from the checkpoint)
     * @param baseDigest the digest of the weights the open round began at
     */
    SyncLog(String model, int size, long round, long afterClose, Map<String, Long> closedSteps, LongSupplier baseDigest,
            Refusals refusals) {
        this.model = model;
        this.size = size;
        this.round = round;
        this.afterClose = afterClose;
        this.closedSteps = new HashMap<>(closedSteps);
        this.baseDigest = baseDigest;
        this.refusals = refusals;
    }

    /** The open round. */
    long round() {
        return round;
    }

    /** Offset after the last close applied. */
    long afterClose() {
        return afterClose;
    }

    /**
     * Where to read from to see every record the open round may still sum: the close before it, or the first chunk of
     * a contribution that began before that close.
     */
    long replayFrom() {
        long from = afterClose;
        for (Partial p : partial.values()) from = Math.min(from, p.firstOffset);
        for (long f : summedFirstOffsets.values()) from = Math.min(from, f);
        return from;
    }

    /** Per replica, the newest step a closed round summed (for the checkpoint). */
    Map<String, Long> closedSteps() {
        return Map.copyOf(closedSteps);
    }

    /** Replicas whose pseudo-gradient for the open round is summed and waits for its close. */
    Set<String> waiting() {
        Set<String> out = new LinkedHashSet<>();
        for (Contribution c : summed) {
            if (c.round() == round) out.add(c.replica());
        }
        return out;
    }

    /** Whether the contribution of {@code replica} at {@code step} is summed and waits for a close. */
    boolean isWaiting(String replica, long step) {
        return summed.stream().anyMatch(c -> c.replica().equals(replica) && c.step() == step);
    }

    /** The record at {@code offset}; the round it closes, if it closes one. */
    Optional<Round> accept(long offset, SyncMessage message) {
        if (!message.model().equals(model)) return Optional.empty();
        // before the last close applied (a replay picking up contributions that straddle it): closes there are
        // applied already, and contributions completed there were summed or refused before them
        boolean applied = offset < afterClose;
        if (message instanceof SyncMessage.Close close) {
            if (applied || close.round() < round) return Optional.empty(); // a second close of a closed round
            if (close.round() > round) {
                // the log lacks rounds this replica has not applied: it starts after them (retention deleted them)
                throw new IllegalStateException("millrace.sync closes round " + close.round() + " at offset " + offset
                        + " but this replica is at round " + round + ": the log no longer holds the rounds between. "
                        + "Restore the replica from a newer checkpoint of the run");
            }
            return Optional.of(close(offset, close));
        }
        SyncMessage.Chunk chunk = (SyncMessage.Chunk) message;
        String key = chunk.replica() + "@" + chunk.step();
        Partial p = partial.get(key);
        if (p == null) {
            // a transaction's chunks come in order: a later chunk without its first is the tail of a contribution
            // completed before a replay's start (or forgotten as too old), never one to sum
            if (chunk.chunk() != 0) return Optional.empty();
            p = new Partial(offset, chunk.chunks());
            partial.put(key, p);
        }
        if (chunk.chunks() != p.chunks.length || p.chunks[chunk.chunk()] != null) {
            refusals.refused("chunk", chunk.replica(), key + " sent chunk " + chunk.chunk() + " of " + chunk.chunks() + " again or differently");
            return Optional.empty();
        }
        p.chunks[chunk.chunk()] = chunk;
        if (++p.received < p.chunks.length) return Optional.empty();
        partial.remove(key);
        if (!applied && admissible(key, p)) {
            if (sum == null) sum = new float[size];
            for (SyncMessage.Chunk c : p.chunks) PseudoGradients.addTo(sum, c);
            summed.add(new Contribution(chunk.replica(), chunk.round(), chunk.step(), chunk.steps(), chunk.tokens()));
            summedFirstOffsets.put(key, p.firstOffset);
        }
        return Optional.empty();
    }

    private Round close(long offset, SyncMessage.Close close) {
        Round closed = new Round(round, List.copyOf(summed), sum, close.replica(), close.expected());
        for (Contribution c : summed) closedSteps.merge(c.replica(), c.step(), Math::max);
        summed.clear();
        summedFirstOffsets.clear();
        sum = null;
        round++;
        afterClose = offset + 1;
        // an incomplete contribution this old will never be summed: let it go (its first chunk no longer pins replays)
        for (Iterator<Partial> it = partial.values().iterator(); it.hasNext(); ) {
            SyncMessage.Chunk any = firstChunk(it.next());
            if (any.round() < round - LATE_ROUNDS) it.remove();
        }
        return closed;
    }

    private static SyncMessage.Chunk firstChunk(Partial p) {
        for (SyncMessage.Chunk c : p.chunks) {
            if (c != null) return c;
        }
        throw new IllegalStateException("a partial contribution without chunks");
    }

    /** Whether a complete contribution may be summed (see the class comment). */
    private boolean admissible(String key, Partial p) {
        SyncMessage.Chunk head = p.chunks[0];
        for (SyncMessage.Chunk c : p.chunks) {
            if (c.total() != size || c.round() != head.round() || c.step() != head.step()) {
                refusals.refused("size", head.replica(), key + " does not match the model's " + size + " numbers");
                return false;
            }
        }
        if (head.round() > round || head.round() < round - LATE_ROUNDS) {
            refusals.refused("round", head.replica(), key + " is of round " + head.round() + ", the open round is " + round);
            return false;
        }
        if (head.step() <= closedSteps.getOrDefault(head.replica(), -1L) || summedFirstOffsets.containsKey(key)) {
            refusals.refused("repeat", head.replica(), key + " was summed already");
            return false;
        }
        // the digest of a closed round's weights is not kept: a late one is not checked, by every replica alike
        if (head.round() == round && head.baseDigest() != baseDigest.getAsLong()) {
            refusals.refused("base", head.replica(), key + " began round " + round + " from other weights (another seed or run?)");
            return false;
        }
        return true;
    }
}
