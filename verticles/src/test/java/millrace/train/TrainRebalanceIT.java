package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.function.BooleanSupplier;
import millrace.kafka.TestKafka;
import millrace.model.Gpt2Config;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rebalance in the middle of a run — here the trainer's own, as after a pause past the poll interval; a second trainer
 * joining is {@link TrainTakeoverIT} — trains every row once, and re-reads nothing far back.
 */
class TrainRebalanceIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(2);

    @TempDir
    Path dir;

    private static final int SHARDS_PER_PARTITION = 6;
    private static final int ROWS = 5;

    /** Shards on both partitions of millrace.shards. */
    static List<String> publish(TestKafka kafka, String prefix) throws Exception {
        return TrainingShards.publish(kafka, prefix, 2 * SHARDS_PER_PARTITION, ROWS);
    }

    private static TrainSettings settings() {
        TrainSettings demo = TrainSettings.tinyDemo("r50k", 50257, 8);
        return new TrainSettings("m", Gpt2Config.tiny(50257, 8), "r50k", 2, demo.schedule(), demo.clipNorm(),
                demo.adam(), 1, 3600, 3, 0);
    }

    @Test
    void aTrainersOwnRebalanceNeitherRetrainsNorReReads() throws Exception {
        List<String> stream = publish(kafka, "own-");
        try (TrainWorker worker = new TrainWorker(kafka.settings("own"), settings(), dir.resolve("own"))) {
            List<String> trained = new ArrayList<>();
            worker.onStep = rows -> rows.forEach(r -> trained.add(r.shardId() + "#" + r.row()));
            runUntil(() -> trained.size() >= 20, worker);
            long fullyTrained = trained.stream().filter(r -> r.endsWith("#" + (ROWS - 1))).count();
            worker.forceRebalance();
            runUntil(() -> trained.size() >= stream.size(), worker);
            assertEquals(stream.size(), trained.size(), "every row trained, none twice: " + trained);
            assertEquals(new HashSet<>(stream), new HashSet<>(trained));
            // the rebalance drops the queued rows, so the shards not fully trained are read again, and at most one
            // more per partition: the shard a position names is read again even when all its rows are trained
            long shards = 2L * SHARDS_PER_PARTITION;
            assertTrue(worker.recordsRead <= shards + (shards - fullyTrained) + 2,
                    worker.recordsRead + " shard records read for " + shards + ", " + fullyTrained + " of them trained before the rebalance");
        }
    }

    static TrainSettings settings(String model) {
        TrainSettings s = settings();
        return new TrainSettings(model, s.model(), s.tokenizer(), s.batchSize(), s.schedule(), s.clipNorm(), s.adam(),
                1, 3600, 3, 0);
    }

    static void runUntil(BooleanSupplier done, TrainWorker... workers) {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (!done.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out");
            for (TrainWorker w : workers) w.step();
        }
    }
}
