package millrace.cli;

import millrace.model.ModelConfig;

import java.util.List;
import java.util.Collections;
import java.util.ArrayList;
import millrace.model.CheckpointFormat;
import java.nio.file.Files;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Vocabularies;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
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
        ModelConfig config = ModelConfig.preset(preset, tokenizer.vocabSize(), 64);
        TrainSettings settings = TrainSettings.tinyDemo("r50k", tokenizer.vocabSize(), 64);
        try (var manager = ModelTrainer.newRootManager();
                ModelTrainer trainer = new ModelTrainer(settings, manager, LanguageModel.initialize(config, manager), 0, 0)) {
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

    /** The {@code p}-th percentile (nearest rank) of {@code xs}, in any order; NaN for none. */
    static double percentile(List<Double> xs, int p) {
        if (xs.isEmpty()) return Double.NaN;
        List<Double> sorted = new ArrayList<>(xs);
        Collections.sort(sorted);
        return sorted.get(Math.min(sorted.size() - 1, Math.max(0, (int) Math.ceil(p / 100.0 * sorted.size()) - 1)));
    }

    /** A condition a bench waits for. */
    interface Check {
        boolean ok() throws Exception;
    }

    /** Waits up to two minutes for {@code check}; a clear error naming {@code what} otherwise. */
    static void await(Check check, String what) throws Exception {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (!check.ok()) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("no " + what + " within 2 minutes");
            Thread.sleep(100);
        }
    }

    /** This process's resident memory now, in MiB. */
    static double rssMb() throws Exception {
        return statusMb("VmRSS");
    }

    /** This process's peak resident memory, in MiB. */
    static double peakRssMb() throws Exception {
        return statusMb("VmHWM");
    }

    /** Another process's peak resident memory, in MiB (NaN once it has gone). */
    static double peakRssMb(long pid) {
        try {
            return statusMb(Path.of("/proc/" + pid + "/status"), "VmHWM");
        } catch (Exception e) {
            return Double.NaN;
        }
    }

    private static double statusMb(String field) throws Exception {
        return statusMb(Path.of("/proc/self/status"), field);
    }

    /** A memory line of a /proc status file, in MiB. */
    private static double statusMb(Path status, String field) throws Exception {
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith(field + ":")) return Long.parseLong(line.replaceAll("\\D+", "")) / 1024.0;
        }
        return Double.NaN;
    }

    /** The sample corpus (KJV, {@code corpus/kjv}) as ids of {@code tokenizer}, book after book. */
    static int[] kjvTokens(millrace.tokenizer.TextTokenizer tokenizer) throws Exception {
        Path corpus = repoFile("corpus/kjv");
        List<Path> books;
        try (java.util.stream.Stream<Path> s = Files.list(corpus)) {
            books = s.sorted().toList();
        }
        List<int[]> parts = new java.util.ArrayList<>();
        int total = 0;
        for (Path book : books) {
            int[] ids = tokenizer.encode(Files.readString(book));
            parts.add(ids);
            total += ids.length;
        }
        int[] all = new int[total];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }
}
