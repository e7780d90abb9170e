package millrace.cli;

import millrace.model.CheckpointFormat;
import java.nio.file.Files;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import millrace.model.Gpt;
import millrace.model.GptConfig;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Vocabularies;
import millrace.train.CheckpointStore;
import millrace.train.GptTrainer;
import millrace.train.TrainSettings;

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

    /**
     * A fresh model of a preset (r50k, context 64) as a step-0 checkpoint named {@code bench} under {@code root}: what
     * a benchmark of speed serves or trains — speed does not depend on the weights.
     */
    static Path freshCheckpoint(Path root, String preset) throws Exception {
        ByteLevelBpe tokenizer = Vocabularies.builtin("r50k");
        GptConfig config = GptConfig.preset(preset, tokenizer.vocabSize(), 64);
        TrainSettings settings = TrainSettings.tinyDemo("r50k", tokenizer.vocabSize(), 64);
        try (var manager = GptTrainer.newRootManager();
                GptTrainer trainer = new GptTrainer(settings, manager, Gpt.initialize(config, manager), 0, 0)) {
            return new CheckpointStore(root, "bench", 1).write(trainer, new CheckpointFormat.Meta("bench", config,
                    tokenizer.id(), 0, 0, 0f, null, System.currentTimeMillis(), null, settings.seed()), tokenizer);
        }
    }

    /** The peers' Python: the environment bench/python-env.sh makes (or reuses); null when it cannot be made. */
    static String pythonEnvironment() throws Exception {
        Path script = BenchSupport.repoFile("bench/python-env.sh");
        Process p = new ProcessBuilder("bash", script.toString()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (p.waitFor() != 0) {
            System.err.println("no Python peers: bench/python-env.sh could not make the Python environment");
            return null;
        }
        return out.lines().reduce((a, b) -> b).orElse(null);
    }
}
