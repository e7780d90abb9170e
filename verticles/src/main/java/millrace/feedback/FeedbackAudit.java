package millrace.feedback;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import millrace.train.AuditSegments;

/**
 * What each policy version did with each rating it consumed ({@code audit/v-000000007.tsv}, lines {@code rating-id
 * partition offset outcome}), written before the version's checkpoint; a role resuming from version N deletes later
 * segments. A rebuild's segment starts with {@code # lineage <base>} and lists the whole new lineage: reading stops
 * counting what came before it. So {@link #read} gives, for the newest version, exactly the ratings it consumed and
 * what became of each — what {@code FeedbackIT} audits, after a SIGKILL, against the ratings produced.
 */
public final class FeedbackAudit {
    /** What became of a rating. */
    public enum Outcome {
        /** trained into the weights */
        APPLIED,
        /** kept out of training, to measure the implicit reward on */
        HELDOUT,
        /** a tie, or a 3 of 5: nothing to learn */
        NO_PREFERENCE,
        /** a second copy of a rating already consumed */
        DUPLICATE,
        /** not a rating */
        MALFORMED,
        /** its update crossed a bound and was rolled back */
        ROLLED_BACK,
        /** left out by a rebuild ({@code --exclude-rater}) */
        EXCLUDED,
        /** about another model's answers */
        OTHER_MODEL;

        String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public record Entry(String ratingId, int partition, long offset, Outcome outcome) {
        Entry as(Outcome other) {
            return new Entry(ratingId, partition, offset, other);
        }
    }

    private final AuditSegments segments;

    FeedbackAudit(Path dir) {
        this.segments = new AuditSegments(dir, "v");
    }

    /** The segment of {@code version}; {@code lineage}: the base of a rebuilt lineage, or null for one more update. */
    void write(long version, List<Entry> entries, String lineage) {
        StringBuilder out = new StringBuilder();
        if (lineage != null) out.append("# lineage ").append(lineage).append('\n');
        for (Entry e : entries) {
            out.append(e.ratingId()).append('\t').append(e.partition()).append('\t').append(e.offset()).append('\t')
                    .append(e.outcome().label()).append('\n');
        }
        segments.write(version, out);
    }

    void truncateAfter(long version) {
        segments.truncateAfter(version);
    }

    /** The newest lineage's entries, in order. */
    public static List<Entry> read(Path dir) throws IOException {
        List<Entry> entries = new ArrayList<>();
        for (Path segment : new AuditSegments(dir, "v").segments()) {
            for (String line : Files.readAllLines(segment, StandardCharsets.UTF_8)) {
                if (line.startsWith("# lineage")) {
                    entries.clear();
                    continue;
                }
                String[] f = line.split("\t");
                entries.add(new Entry(f[0], Integer.parseInt(f[1]), Long.parseLong(f[2]),
                        Outcome.valueOf(f[3].toUpperCase(java.util.Locale.ROOT))));
            }
        }
        return entries;
    }
}
