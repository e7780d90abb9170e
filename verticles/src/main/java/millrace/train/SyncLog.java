package millrace.train;

import java.util.ArrayList;
import java.util.Comparator;
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
 * to the same records, so every replica sums the same contributions:
 * <ul>
 *   <li>a contribution is complete at its last chunk; the first {@link SyncMessage.Close} of the open round closes
 *       it, and the round sums the contributions completed before that mark (later closes of it are ignored);
 *   <li>one completed after the mark (late: its replica was slow, or its chunks straddle the mark) is summed by the next
 *       round, so no published work is lost or counted twice;
 *   <li>one whose base digest is not the open round's (its replica began elsewhere), whose size is not the model's,
 *       or that names another round is refused, and counted.
 * </ul>
 * No Kafka here: {@link ReplicaSync} feeds it.
 */
final class SyncLog {
    /** A replica's whole pseudo-gradient for a round: its chunks, in order. */
    record Contribution(String replica, long round, long step, int steps, long tokens, List<SyncMessage.Chunk> chunks) {
        boolean is(String replicaId, long atStep) {
            return replica.equals(replicaId) && step == atStep;
        }
    }

    /** A closed round: what it sums (by replica, then step), who closed it, and how many replicas the closer awaited. */
    record Round(long round, List<Contribution> contributions, String closedBy, int expected) {
        boolean timedOut() {
            return contributions.stream().map(Contribution::replica).distinct().count() < expected;
        }
    }

    /** Why a record was refused, for the metric. */
    interface Refusals {
        void refused(String reason, String detail);
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

    private final String model;
    private final long size;
    private final LongSupplier baseDigest;
    private final Refusals refusals;
    private long round;
    /** Offset after the last close applied: a replay starts here (or earlier: see {@link #replayFrom}). */
    private long afterClose;
    private final Map<String, Partial> partial = new LinkedHashMap<>();
    private final List<Contribution> complete = new ArrayList<>();
    private final List<Long> completeFirstOffsets = new ArrayList<>();

    /**
     * @param round the open round
     * @param afterClose where its records begin in the log
     * @param baseDigest the digest of the weights the open round began at
     */
    SyncLog(String model, long size, long round, long afterClose, LongSupplier baseDigest, Refusals refusals) {
        this.model = model;
        this.size = size;
        this.round = round;
        this.afterClose = afterClose;
        this.baseDigest = baseDigest;
        this.refusals = refusals;
    }

    /** The open round. */
    long round() {
        return round;
    }

    /**
     * Where to read from to see every record the open round may still sum: the close before it, or the first chunk of
     * a contribution that began before that close and completed after it.
     */
    long replayFrom() {
        long from = afterClose;
        for (Partial p : partial.values()) from = Math.min(from, p.firstOffset);
        for (long f : completeFirstOffsets) from = Math.min(from, f);
        return from;
    }

    /** Offset after the last close applied. */
    long afterClose() {
        return afterClose;
    }

    /** Replicas with a complete contribution waiting for the open round's close. */
    Set<String> waiting() {
        Set<String> out = new LinkedHashSet<>();
        for (Contribution c : complete) out.add(c.replica());
        return out;
    }

    /** Whether the contribution of {@code replica} at {@code step} is complete and waiting for a close. */
    boolean isWaiting(String replica, long step) {
        return complete.stream().anyMatch(c -> c.is(replica, step));
    }

    /** The record at {@code offset}; the round it closes, if it closes one. */
    Optional<Round> accept(long offset, SyncMessage message) {
        if (!message.model().equals(model)) return Optional.empty();
        // a replay begins before the last close applied only to pick up contributions that straddle it: closes there
        // are applied already, and contributions completed there were summed by them
        boolean applied = offset < afterClose;
        if (message instanceof SyncMessage.Close close) {
            if (applied || close.round() < round) return Optional.empty(); // a second close of a closed round
            if (close.round() > round) {
                // the log lacks rounds this replica has not applied: it starts after them (retention deleted them)
                throw new IllegalStateException("millrace.sync closes round " + close.round() + " at offset " + offset
                        + " but this replica is at round " + round + ": the log no longer holds the rounds between. "
                        + "Restore the replica from a newer checkpoint of the run");
            }
            List<Contribution> summed = new ArrayList<>(complete);
            summed.sort(Comparator.comparing(Contribution::replica).thenComparingLong(Contribution::step));
            complete.clear();
            completeFirstOffsets.clear();
            Round closed = new Round(round, List.copyOf(summed), close.replica(), close.expected());
            round++;
            afterClose = offset + 1;
            return Optional.of(closed);
        }
        SyncMessage.Chunk chunk = (SyncMessage.Chunk) message;
        String key = chunk.replica() + "@" + chunk.step();
        Partial p = partial.get(key);
        if (p == null) {
            if (!applied && !admissible(chunk)) return Optional.empty();
            p = new Partial(offset, chunk.chunks());
            partial.put(key, p);
        }
        if (chunk.chunks() != p.chunks.length || p.chunks[chunk.chunk()] != null) {
            refusals.refused("chunk", key + " sent chunk " + chunk.chunk() + " of " + chunk.chunks() + " again or differently");
            return Optional.empty();
        }
        p.chunks[chunk.chunk()] = chunk;
        if (++p.received == p.chunks.length) {
            partial.remove(key);
            if (applied) return Optional.empty();
            complete.add(new Contribution(chunk.replica(), chunk.round(), chunk.step(), chunk.steps(), chunk.tokens(),
                    List.of(p.chunks)));
            completeFirstOffsets.add(p.firstOffset);
        }
        return Optional.empty();
    }

    /**
     * Whether a new contribution may be summed: the model's size, and either the open round from its weights (the
     * digest), or a round at most {@link #LATE_ROUNDS} back (late: published after its round closed; the digest of a
     * closed round's weights is not kept, so that every replica, restarted or not, decides alike).
     */
    private boolean admissible(SyncMessage.Chunk chunk) {
        if (chunk.total() != size) {
            refusals.refused("size", chunk.replica() + " sent " + chunk.total() + " numbers; the model has " + size);
            return false;
        }
        if (chunk.round() > round || chunk.round() < round - LATE_ROUNDS) {
            refusals.refused("round", chunk.replica() + " sent round " + chunk.round() + " during round " + round);
            return false;
        }
        if (chunk.round() == round && chunk.baseDigest() != baseDigest.getAsLong()) {
            refusals.refused("base", chunk.replica() + " began round " + round + " from other weights (another seed or run?)");
            return false;
        }
        return true;
    }

    /** How many rounds late a contribution may be and still be summed. */
    static final int LATE_ROUNDS = 16;
}
