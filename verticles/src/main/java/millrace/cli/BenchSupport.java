package millrace.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/** What the benchmarks share. */
final class BenchSupport {
    private BenchSupport() {}

    /** A file of the repository: beside the launcher ({@code MILLRACE_HOME}), else in the working directory. */
    static Path repoFile(String relative) {
        String home = System.getenv("MILLRACE_HOME");
        Path p = home != null ? Path.of(home, relative) : Path.of(relative);
        if (!Files.exists(p)) throw new IllegalStateException("missing " + p.toAbsolutePath());
        return p;
    }
}
