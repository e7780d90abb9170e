package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import millrace.kafka.TestKafka;
import millrace.model.Gpt2Config;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A trainer that dies after its last checkpoint loses the steps since then; the next one resumes from the checkpoint
 * and trains exactly the rows the checkpoint's weights have not seen — every row once, none twice.
 */
class TrainResumeIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(1);

    @TempDir
    Path dir;

    @Test
    void everyRowIsTrainedExactlyOnceAcrossACrash() throws Exception {
        List<String> stream = TrainingShards.publish(kafka, "shard-", 5, 5);
        TrainSettings demo = TrainSettings.tinyDemo("r50k", 50257, 8);
        TrainSettings settings = new TrainSettings("m", Gpt2Config.tiny(50257, 8), "r50k", 3, demo.schedule(),
                demo.clipNorm(), demo.adam(), 1, 3600, 3, 0);

        List<String> kept = new ArrayList<>(); // rows whose training reached a checkpoint
        List<String> lost = new ArrayList<>();
        try (TrainWorker first = new TrainWorker(kafka.settings("t"), settings, dir)) {
            List<String> trained = new ArrayList<>();
            first.onStep = rows -> rows.forEach(r -> trained.add(r.shardId() + "#" + r.row()));
            runUntil(first, trained, 12); // 4 steps of 3 rows: the checkpoint falls in the middle of shard-2
            first.checkpoint();
            kept.addAll(trained);
            runUntil(first, trained, 18); // two more steps, then the process dies before its next checkpoint
            lost.addAll(trained.subList(12, trained.size()));
        }
        assertEquals(stream.subList(0, 12), kept);
        assertEquals(stream.subList(12, 18), lost);

        List<String> resumed = new ArrayList<>();
        try (TrainWorker second = new TrainWorker(kafka.settings("t"), settings, dir)) {
            second.onStep = rows -> rows.forEach(r -> resumed.add(r.shardId() + "#" + r.row()));
            runUntil(second, resumed, 12); // 13 rows remain; the 25th never fills a batch of 3
        }
        List<String> all = new ArrayList<>(kept);
        all.addAll(resumed);
        assertEquals(stream.subList(0, 24), all, "rows trained into the final weights, in order, each once");
        assertEquals("shard-2#2", resumed.get(0), "resumed in the middle of a shard");
    }

    private static void runUntil(TrainWorker worker, List<String> trained, int rows) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (trained.size() < rows) {
            assertTrue(System.nanoTime() < deadline, "only " + trained.size() + " rows trained");
            worker.step();
        }
    }
}
