package millrace.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;

/**
 * An audit as one file per checkpoint ({@code <prefix>-000000123.tsv}): each written atomically before its checkpoint,
 * and those after a checkpoint deleted when a process resumes from it — they describe work that died with the process.
 * Read in order, the segments list exactly what went into the newest checkpoint. The trainer audits shard rows, the
 * feedback role ratings.
 */
public final class AuditSegments {
    private final Path dir;
    private final String prefix;

    public AuditSegments(Path dir, String prefix) {
        this.dir = dir;
        this.prefix = prefix + "-";
    }

    /**
     * Writes the segment of checkpoint {@code n}, atomically; if it exists — a checkpoint written again at the same
     * step, after a step that was skipped — {@code content} is added to it.
     */
    public void write(long n, CharSequence content) {
        try {
            Files.createDirectories(dir);
            Path segment = dir.resolve(String.format("%s%09d.tsv", prefix, n));
            Path tmp = Files.createTempFile(dir, ".writing-", ".tsv");
            String before = Files.exists(segment) ? Files.readString(segment, StandardCharsets.UTF_8) : "";
            Files.writeString(tmp, before + content, StandardCharsets.UTF_8);
            Files.move(tmp, segment, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the audit in " + dir, e);
        }
    }

    /** Resuming from checkpoint {@code n}: later segments (and half-written ones) describe lost work. */
    public void truncateAfter(long n) {
        if (!Files.isDirectory(dir)) return;
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.toList()) {
                String name = p.getFileName().toString();
                boolean later = name.startsWith(prefix) && number(name) > n;
                if (later || name.startsWith(".writing-")) Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the audit in " + dir, e);
        }
    }

    /** The segments, in order. */
    public List<Path> segments() throws IOException {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().startsWith(prefix))
                    .sorted(java.util.Comparator.comparingLong(p -> number(p.getFileName().toString()))).toList();
        }
    }

    private long number(String name) {
        return Long.parseLong(name.substring(prefix.length(), name.indexOf('.')));
    }
}
