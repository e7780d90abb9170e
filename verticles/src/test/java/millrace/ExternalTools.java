package millrace;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/**
 * Real tools some tests drive (Debian's {@code prometheus} and {@code promtool}, {@code kubectl}). Where one is
 * missing the test is skipped with the reason — unless {@code MILLRACE_REQUIRE_TOOLS=1} (CI sets it), then it fails.
 */
public final class ExternalTools {
    private ExternalTools() {}

    public static Path require(String tool, String install) {
        Optional<Path> found = find(tool);
        if (found.isPresent()) return found.get();
        return missing(tool + " is not on the PATH (" + install + ")");
    }

    /**
     * Whether {@code tool} is on the PATH, for a part of a test that can be left out: where it is missing the reason is
     * printed and the part skipped — unless {@code MILLRACE_REQUIRE_TOOLS=1}, then it fails.
     */
    public static boolean available(String tool, String install) {
        if (find(tool).isPresent()) return true;
        String message = tool + " is not on the PATH (" + install + ")";
        if ("1".equals(System.getenv("MILLRACE_REQUIRE_TOOLS"))) throw new AssertionError(message);
        System.err.println("skipped: " + message);
        return false;
    }

    /** A data file a package installs (real text for tests). */
    public static Path requireFile(Path file, String install) {
        if (Files.isReadable(file)) return file;
        return missing(file + " is not there (" + install + ")");
    }

    private static Path missing(String message) {
        if ("1".equals(System.getenv("MILLRACE_REQUIRE_TOOLS"))) throw new AssertionError(message);
        Assumptions.abort(message);
        return null;
    }

    static Optional<Path> find(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(dir, tool);
            if (Files.isExecutable(p)) return Optional.of(p);
        }
        return Optional.empty();
    }

    /** The repository root (tests run in the verticles module). */
    public static Path repo() {
        return Path.of("..").toAbsolutePath().normalize();
    }
}
