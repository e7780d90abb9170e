package millrace;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The Python that the references of the formats Millrace reads and writes run in: today's PyTorch, transformers,
 * tokenizers, PEFT and Jinja2, in the virtual environment {@code bench/python-env.sh} makes ({@code MILLRACE_PY_ENV},
 * or {@code .venv-bench} beside the repository; CI makes it before the tests). Where it is missing a test that needs it
 * is skipped with the reason — unless {@code MILLRACE_REQUIRE_TOOLS=1}, then it fails.
 */
public final class PythonReference {
    private PythonReference() {}

    /** The environment's python; skips (or fails, under MILLRACE_REQUIRE_TOOLS) when it has not been made. */
    public static Path python() {
        String env = System.getenv("MILLRACE_PY_ENV");
        Path python = (env != null && !env.isBlank() ? Path.of(env) : ExternalTools.repo().resolve(".venv-bench"))
                .resolve("bin/python");
        if (Files.isExecutable(python)) return python;
        return ExternalTools.requireFile(python, "bash bench/python-env.sh makes it: PyTorch, transformers, tokenizers, PEFT");
    }

    /** A script of {@code bench/} (a reference or a peer). */
    public static Path script(String name) {
        return ExternalTools.repo().resolve("bench").resolve(name);
    }

    /**
     * Runs {@code script} with {@code args} in the environment (one thread, no hub, offline) and returns what it
     * printed on standard output; a non-zero exit fails with what it printed on standard error.
     */
    public static String run(Path script, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(python().toString(), script.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("OMP_NUM_THREADS", "1");
        pb.environment().put("HF_HUB_OFFLINE", "1");
        pb.environment().put("TRANSFORMERS_OFFLINE", "1");
        pb.environment().put("TOKENIZERS_PARALLELISM", "false");
        Path err = Files.createTempFile("python-reference", ".err");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new AssertionError(script.getFileName() + " did not finish in 10 minutes");
            }
            if (p.exitValue() != 0) {
                throw new AssertionError(script.getFileName() + " failed (" + p.exitValue() + "): " + Files.readString(err));
            }
            return out;
        } finally {
            Files.deleteIfExists(err);
        }
    }
}
