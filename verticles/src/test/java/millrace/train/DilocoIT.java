package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import millrace.kafka.TestKafka;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two real trainer processes of one model with {@code --diloco}, against the embedded broker: after every round both
 * hold bit-identical weights; one killed with SIGKILL mid-round, the other closes the round alone after
 * {@code --sync-timeout}; the killed one, started again, rejoins from its checkpoint and its rounds agree again; and
 * the audits of the two list every row produced exactly once. The replicas train {@code llama-tiny}: DiLoCo moves
 * weight vectors, whatever the architecture, and the Llama family runs it end to end here.
 */
class DilocoIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(4);

    @TempDir
    Path dir;

    /** One line of a replica's rounds log. */
    record Round(long round, String closedBy, int expected, List<String> contributions, String digest, String weights,
            String when) {
        Set<String> replicas() {
            Set<String> out = new TreeSet<>();
            for (String c : contributions) out.add(c.substring(0, c.indexOf('@')));
            return out;
        }
    }

    private Process replica(String id, String logName) throws Exception {
        List<String> cmd = millrace.faults.ChildProcess.millrace("1g", List.of("train",
                "--kafka", kafka.settings("x").bootstrapServers(), "--data-dir", dir.resolve("data").toString(),
                "--tokenizer", "r50k", "--seq-len", "8", "--batch-size", "4", "--checkpoint-every", "1",
                "--model", "llama-tiny", "--ops-port", "0", "--eval-every", "0", "--instance-id", id,
                "--diloco", "--sync-every", "5", "--sync-timeout", "6"));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(
                ProcessBuilder.Redirect.appendTo(dir.resolve(logName).toFile())).start();
    }

    private Path replicaDir(String id) {
        return dir.resolve("data/checkpoints/millrace/replicas").resolve(id);
    }

    /** The last line of each round in a replica's rounds log (a replay writes a round again). */
    private Map<Long, Round> rounds(String id) throws Exception {
        Path file = replicaDir(id).resolve("rounds.tsv");
        Map<Long, Round> out = new HashMap<>();
        if (!Files.exists(file)) return out;
        for (String line : Files.readAllLines(file)) {
            String[] f = line.split("\t", -1);
            if (f.length < 7) continue; // a line being written
            Round r = new Round(Long.parseLong(f[0]), f[1], Integer.parseInt(f[2]),
                    f[3].isEmpty() ? List.of() : List.of(f[3].split(",")), f[4], f[5], f[6]);
            out.put(r.round(), r);
        }
        return out;
    }

    private List<String> audits() throws Exception {
        List<String> rows = new ArrayList<>();
        for (String id : List.of("a", "b")) {
            rows.addAll(TrainAudit.read(replicaDir(id).resolve("audit")).stream().map(r -> r.replace("!dropped", "")).toList());
        }
        return rows;
    }

    private void await(String what, int seconds, BooleanSupplier done, Process... alive) throws Exception {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (!done.getAsBoolean()) {
            for (Process p : alive) assertTrue(p.isAlive(), () -> what + ": a replica died\n" + logs());
            assertTrue(System.nanoTime() < deadline, () -> "no " + what + " within " + seconds + " s\n" + logs());
            Thread.sleep(200);
        }
    }

    private String logs() {
        StringBuilder out = new StringBuilder();
        for (String name : List.of("a.log", "b.log")) {
            try {
                List<String> lines = Files.readAllLines(dir.resolve(name));
                out.append("== ").append(name).append('\n')
                        .append(String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()))).append('\n');
            } catch (Exception e) {
                out.append("(no ").append(name).append(")\n");
            }
        }
        return out.toString();
    }

    private BooleanSupplier roundsWithBoth(int atLeast, long after) {
        return () -> {
            try {
                Map<Long, Round> a = rounds("a");
                Map<Long, Round> b = rounds("b");
                return a.keySet().stream().filter(r -> r > after && b.containsKey(r)
                        && a.get(r).replicas().equals(Set.of("a", "b"))).count() >= atLeast;
            } catch (Exception e) {
                return false;
            }
        };
    }

    @Test
    void twoReplicasAgreeBitForBitSurviveAKillAndTrainEveryRowOnce() throws Exception {
        List<String> produced = new ArrayList<>(TrainingShards.publish(kafka, "d1-", 80, 6));
        Process a = replica("a", "a.log");
        Process b = replica("b", "b.log");
        Process b2 = null;
        try {
            await("two rounds of both replicas", 180, roundsWithBoth(2, -1), a, b);
            Thread.sleep(300); // somewhere inside a round
            b.destroyForcibly().waitFor(); // SIGKILL: no last checkpoint, maybe a pseudo-gradient half sent
            long killedAt = rounds("a").keySet().stream().mapToLong(Long::longValue).max().orElse(-1);

            // a still waits for b (b's static membership keeps its partitions a while) and closes alone after the timeout
            await("a round closed alone after the timeout", 120, () -> {
                try {
                    return rounds("a").values().stream().anyMatch(r -> r.round() > killedAt && r.expected() == 2
                            && r.replicas().equals(Set.of("a")));
                } catch (Exception e) {
                    return false;
                }
            }, a);

            b2 = replica("b", "b.log");
            long restartedAt = rounds("a").keySet().stream().mapToLong(Long::longValue).max().orElse(-1);
            produced.addAll(TrainingShards.publish(kafka, "d2-", 40, 6));
            await("rounds of both replicas after the restart", 180, roundsWithBoth(2, restartedAt), a, b2);
            Process restarted = b2;
            await("every row in a checkpoint", 180, () -> {
                try {
                    return new HashSet<>(audits()).containsAll(produced);
                } catch (Exception e) {
                    return false;
                }
            }, a, restarted);

            // bit-identical: the run's weights after every round both applied (b replayed what it missed) have one digest
            Map<Long, Round> ra = rounds("a");
            Map<Long, Round> rb = rounds("b");
            int compared = 0;
            for (long r : ra.keySet()) {
                if (!rb.containsKey(r)) continue;
                assertEquals(ra.get(r).digest(), rb.get(r).digest(), "weights after round " + r);
                assertEquals(ra.get(r).contributions(), rb.get(r).contributions(), "what round " + r + " summed");
                compared++;
            }
            System.err.println("rounds of a:\n" + String.join("\n", ra.values().stream().map(Round::toString).toList()));
            System.err.println("rounds of b:\n" + String.join("\n", rb.values().stream().map(Round::toString).toList()));
            assertTrue(compared >= 6, "rounds compared: " + compared + "\n" + ra + "\n" + rb);
            assertTrue(rb.values().stream().anyMatch(r -> r.when().equals("replayed")), "b replayed the rounds it missed");
            String bLog = Files.readString(dir.resolve("b.log"));
            assertTrue(bLog.contains("resuming millrace from"), "b rejoined from its checkpoint");

            List<String> rows = audits();
            assertEquals(rows.size(), new HashSet<>(rows).size(), "no row trained twice");
            assertEquals(new TreeSet<>(produced), new TreeSet<>(rows), "every row once");

        } finally {
            stop(a);
            b.destroyForcibly().waitFor();
            if (b2 != null) stop(b2);
        }
    }

    /**
     * SIGTERM, then SIGKILL if it has not exited in 30 s. A replica killed inside its pseudo-gradient's transaction
     * leaves it open, and every read_committed reader of {@code millrace.sync} (the next test's replicas too) then
     * waits up to the transaction timeout, 5 minutes, before reading past it.
     */
    private static void stop(Process p) throws InterruptedException {
        p.destroy();
        if (!p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) p.destroyForcibly().waitFor();
    }

    @Test
    void aReplicaThatStopsMidRoundHandsItsProgressToTheRun() throws Exception {
        TrainingShards.publish(kafka, "stop-", 40, 6);
        TrainSettings settings = TrainRebalanceIT.settings("stopping").withSync(
                new SyncSettings(5, 3_000, 0.7f, 0.9f, millrace.protocol.SyncMessage.Encoding.INT8));
        long[] bSteps = {0};
        try (TrainWorker a = new TrainWorker(kafka.settings("sa"), settings, dir)) {
            TrainWorker b = new TrainWorker(kafka.settings("sb"), settings, dir);
            b.onStep = rows -> bSteps[0]++;
            // a round of both, then b two steps into the next one
            TrainRebalanceIT.runUntil(() -> bSteps[0] == 7, a, b);
            b.stop(); // what a SIGTERM does: the stage stops its worker
            String handed = "sb@7";
            long deadline = System.nanoTime() + 60_000_000_000L;
            Path aRounds = dir.resolve("stopping/replicas/sa/rounds.tsv");
            while (!Files.exists(aRounds) || !Files.readString(aRounds).contains(handed)) {
                assertTrue(System.nanoTime() < deadline, "a never summed b's last pseudo-gradient");
                a.step();
            }
        }
    }
}
