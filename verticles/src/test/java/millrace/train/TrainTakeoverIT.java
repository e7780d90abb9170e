package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import millrace.kafka.TestKafka;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A second trainer of the same model (another machine: its own data dir, the same consumer group) joins a running one:
 * the partitions it takes resume where the first trainer stood, so across the two every row is trained once.
 */
class TrainTakeoverIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(2);

    @TempDir
    Path dir;

    @Test
    void aSecondTrainerOfTheModelTakesOverWhereTheFirstStood() throws Exception {
        List<String> stream = TrainRebalanceIT.publish(kafka, "two-");
        Set<String> trained = new HashSet<>();
        List<String> twice = new ArrayList<>();
        java.util.function.Consumer<List<TrainWorker.QueuedRow>> record = rows -> rows.forEach(r -> {
            if (!trained.add(r.shardId() + "#" + r.row())) twice.add(r.shardId() + "#" + r.row());
        });
        // the same model on two machines: its own data dir each, one consumer group
        try (TrainWorker first = new TrainWorker(kafka.settings("a"), TrainRebalanceIT.settings("two"), dir.resolve("a"))) {
            first.onStep = record;
            TrainRebalanceIT.runUntil(() -> trained.size() >= 14, first);
            try (TrainWorker second = new TrainWorker(kafka.settings("b"), TrainRebalanceIT.settings("two"), dir.resolve("b"))) {
                second.onStep = record;
                TrainRebalanceIT.runUntil(() -> trained.size() + twice.size() >= stream.size(), first, second);
                // a few more rounds: nothing more may come
                for (int i = 0; i < 10; i++) {
                    first.step();
                    second.step();
                }
            }
        }
        assertEquals(List.of(), twice, "rows trained by both trainers");
        assertEquals(new HashSet<>(stream), trained, "every row trained by one of them");
    }

}
