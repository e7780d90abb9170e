package millrace.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The lineage of a model's weights: for each checkpoint, the shard rows trained into it since the checkpoint before
 * ({@code audit/step-000000123.tsv}, lines {@code shard-id  first-row  end-row}, consecutive rows merged). A segment
 * is written before its checkpoint; a trainer that resumes from step S deletes the segments after S, which describe
 * work that died with the process. So the segments, read in order, list exactly the rows in the newest checkpoint's
 * weights — what {@code TrainKillIT} audits against the shards produced. Rows of a batch that gave non-finite
 * gradients twice are listed with {@code dropped} as a fourth column.
 */
public final class TrainAudit {
    private final AuditSegments segments;
    private final StringBuilder pending = new StringBuilder();
    private String runShard;
    private int runFrom;
    private int runEnd;
    private boolean runDropped;

    public TrainAudit(Path dir) {
        this.segments = new AuditSegments(dir, "step");
    }

    /** A row trained into the weights (rows of one shard arrive in order). */
    public void trained(String shardId, int row) {
        add(shardId, row, false);
    }

    /** A row given up on: its batch's gradients were not finite, twice. */
    public void dropped(String shardId, int row) {
        add(shardId, row, true);
    }

    private void add(String shardId, int row, boolean dropped) {
        if (shardId.equals(runShard) && row == runEnd && dropped == runDropped) {
            runEnd++;
            return;
        }
        flushRun();
        runShard = shardId;
        runFrom = row;
        runEnd = row + 1;
        runDropped = dropped;
    }

    private void flushRun() {
        if (runShard == null) return;
        pending.append(runShard).append('\t').append(runFrom).append('\t').append(runEnd)
                .append(runDropped ? "\tdropped\n" : "\n");
        runShard = null;
    }

    /** Writes what was trained since the last commit as the segment of the checkpoint at {@code step}; atomic. */
    public void commit(long step) {
        flushRun();
        segments.write(step, pending);
        pending.setLength(0);
    }

    /** Resuming from the checkpoint at {@code step}: later segments (and half-written ones) describe lost work. */
    public void truncateAfter(long step) {
        segments.truncateAfter(step);
    }

    /** Every row in the audit, in training order, as {@code shard-id#row} (dropped rows end in {@code !dropped}). */
    public static List<String> read(Path dir) throws IOException {
        List<String> rows = new ArrayList<>();
        for (Path segment : new AuditSegments(dir, "step").segments()) {
            for (String line : Files.readAllLines(segment, StandardCharsets.UTF_8)) {
                String[] f = line.split("\t");
                for (int r = Integer.parseInt(f[1]); r < Integer.parseInt(f[2]); r++) {
                    rows.add(f[0] + "#" + r + (f.length > 3 ? "!dropped" : ""));
                }
            }
        }
        return rows;
    }
}
