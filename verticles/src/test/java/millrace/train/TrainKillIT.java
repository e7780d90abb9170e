package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import millrace.kafka.TestKafka;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real trainer process ({@code millrace train}) killed with SIGKILL in the middle of training and started again
 * with {@code --max-steps} set to the steps the shards make: the audit of the rows trained into the final weights
 * lists every row of every shard produced exactly once, and the second process stops by itself at the last step.
 */
class TrainKillIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(2);

    @TempDir
    Path dir;

    private static final int SHARDS = 60;
    private static final int ROWS = 6;

    private Process trainer(Path log, String... more) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx1g", "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                "millrace.cli.Main", "train", "--kafka", kafka.settings("x").bootstrapServers(),
                "--data-dir", dir.resolve("data").toString(), "--tokenizer", "r50k", "--seq-len", "8",
                "--batch-size", "4", "--checkpoint-every", "1", "--model", "tiny", "--ops-port", "0",
                "--instance-id", "kill-test"));
        cmd.addAll(List.of(more));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private boolean checkpointed() throws Exception {
        Path model = dir.resolve("data/checkpoints/millrace");
        if (!Files.isDirectory(model)) return false;
        try (var s = Files.list(model)) {
            return s.anyMatch(p -> p.getFileName().toString().startsWith("step-"));
        }
    }

    private List<String> audit() throws Exception {
        return TrainAudit.read(dir.resolve("data/checkpoints/millrace/audit"));
    }

    @Test
    void killDashNineMidRunThenRestartTrainsEveryRowExactlyOnce() throws Exception {
        List<String> produced = TrainingShards.publish(kafka, "shard-", SHARDS, ROWS);

        long started = System.nanoTime();
        Process first = trainer(dir.resolve("first.log"));
        long deadline = System.nanoTime() + 120_000_000_000L;
        // the first checkpoint: its audit segment is committed before it is written, so wait for the directory too (once, on
        // a loaded machine, the kill came between the two and the restart found nothing to resume)
        while (audit().isEmpty() || !checkpointed()) {
            assertTrue(first.isAlive(), () -> "trainer died: " + read(dir.resolve("first.log")));
            assertTrue(System.nanoTime() < deadline, "no checkpoint within 120 s");
            Thread.sleep(100);
        }
        Thread.sleep(700); // mid-way between two checkpoints
        int beforeKill = audit().size();
        System.err.println("killing after " + beforeKill + " audited rows, " + (System.nanoTime() - started) / 1_000_000 + " ms");
        first.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook, no last checkpoint
        assertTrue(beforeKill < produced.size(), "killed before the end: " + beforeKill + " rows audited");

        int steps = SHARDS * ROWS / 4;
        Process second = trainer(dir.resolve("second.log"), "--max-steps", "" + steps);
        try {
            assertTrue(second.waitFor(240, java.util.concurrent.TimeUnit.SECONDS),
                    () -> "no exit at --max-steps: " + read(dir.resolve("second.log")));
            assertEquals(0, second.exitValue(), () -> read(dir.resolve("second.log")));
        } finally {
            second.destroyForcibly().waitFor();
        }
        String log = read(dir.resolve("second.log"));
        assertTrue(log.contains("trained " + steps + " steps; checkpoints in"), log);
        assertTrue(Files.isDirectory(dir.resolve("data/checkpoints/millrace/step-" + String.format("%09d", steps))), log);
        System.err.println("all rows audited after " + (System.nanoTime() - started) / 1_000_000 + " ms");
        List<String> rows = audit().stream().map(r -> r.replace("!dropped", "")).toList();
        assertEquals(produced.size(), rows.size(), "no row twice");
        assertEquals(new TreeSet<>(produced), new TreeSet<>(rows), "every row once");
        assertTrue(log.contains("resuming millrace from"), log);
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return "(no log)";
        }
    }
}
