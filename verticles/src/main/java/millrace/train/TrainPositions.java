package millrace.train;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Where training stands in each partition of {@code millrace.shards}, as a shard's offset and how many of its rows are
 * trained: every training row before that shard, and that many of its rows, went into the weights (or, after a
 * rebalance handed a partition over, into the weights of the trainer that had it). A shard holds many rows, so a Kafka
 * offset alone cannot say where in it training stopped: the rows travel in the committed offset's metadata
 * ({@code rows=N}) and in the checkpoint.
 *
 * <p>Reading a partition resumes at the later of this trainer's own position and the group's committed one: its own
 * is ahead after a rebalance that gave the partition back (nothing trained twice, nothing re-read far back); the
 * committed one is ahead when another trainer of the model had the partition meanwhile (its rows are its own).
 */
final class TrainPositions {
    /** {@code rows} rows of the shard at {@code offset} (and everything before it) are trained. */
    record At(long offset, long rows) implements Comparable<At> {
        static At parse(String offsetColonRows) {
            String[] parts = offsetColonRows.split(":");
            return new At(Long.parseLong(parts[0]), Long.parseLong(parts[1]));
        }

        /** A committed offset, with the rows of its metadata (0 when it has none). */
        static At committed(OffsetAndMetadata committed) {
            String meta = committed.metadata();
            long rows = meta != null && meta.startsWith(ROWS) ? Long.parseLong(meta.substring(ROWS.length())) : 0;
            return new At(committed.offset(), rows);
        }

        OffsetAndMetadata toCommit() {
            return new OffsetAndMetadata(offset, ROWS + rows);
        }

        @Override
        public int compareTo(At o) {
            return offset != o.offset ? Long.compare(offset, o.offset) : Long.compare(rows, o.rows);
        }

        @Override
        public String toString() {
            return offset + ":" + rows;
        }
    }

    private static final String ROWS = "rows=";

    private final Map<Integer, At> trained = new HashMap<>();
    /** Rows before these are not read again: trained here, or by the trainer that had the partition. */
    private final Map<Integer, At> readFrom = new HashMap<>();

    /** The positions a checkpoint recorded ({@code "offset:rows"} per partition). */
    static TrainPositions of(Map<String, String> checkpointPositions) {
        TrainPositions p = new TrainPositions();
        checkpointPositions.forEach((partition, at) -> {
            At where = At.parse(at);
            p.trained.put(Integer.parseInt(partition), where);
            p.readFrom.put(Integer.parseInt(partition), where);
        });
        return p;
    }

    /** The row {@code row} of the shard at {@code offset} is trained (rows of a partition are trained in order). */
    void trained(int partition, long offset, int row) {
        trained.put(partition, new At(offset, row + 1L));
    }

    /**
     * A partition is assigned: where to read it from (null: from the group's committed offset or the start), the later
     * of this trainer's own position and the group's committed one (null if none).
     */
    At assigned(int partition, OffsetAndMetadata committed) {
        At own = trained.get(partition);
        At group = committed == null ? null : At.committed(committed);
        At start = own == null ? group : group == null ? own : (group.compareTo(own) > 0 ? group : own);
        if (start == null) return null;
        readFrom.put(partition, start);
        trained.put(partition, start);
        return start;
    }

    /** How many rows of the training shard at {@code offset} to skip: all of them (-1) if it is before the position. */
    long skip(int partition, long offset) {
        At from = readFrom.get(partition);
        if (from == null || offset > from.offset()) return 0;
        return offset < from.offset() ? -1 : from.rows();
    }

    /** What a checkpoint records. */
    Map<String, String> forCheckpoint() {
        Map<String, String> out = new HashMap<>();
        trained.forEach((p, at) -> out.put(Integer.toString(p), at.toString()));
        return out;
    }

    /**
     * The offsets to commit for the partitions this trainer holds ({@code assigned}): never for one another trainer
     * holds now, whose committed position is ahead of this trainer's.
     */
    Map<TopicPartition, OffsetAndMetadata> toCommit(Set<TopicPartition> assigned) {
        Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
        trained.forEach((p, at) -> {
            TopicPartition tp = new TopicPartition(Topics.SHARDS, p);
            if (assigned.contains(tp)) commit.put(tp, at.toCommit());
        });
        return commit;
    }
}
