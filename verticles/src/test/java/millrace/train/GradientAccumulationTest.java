package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.util.List;
import java.util.Random;
import millrace.model.LanguageModel;
import org.junit.jupiter.api.Test;

/** A step over 8 rows in micro-batches of 2 (or 3, uneven) makes the same update as one pass over all 8. */
class GradientAccumulationTest {
    private static List<float[]> train(int micro) {
        TrainSettings settings = TinyRuns.settings(micro);
        try (NDManager root = ModelTrainer.newRootManager()) {
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(7);
            ModelTrainer trainer = new ModelTrainer(settings, root, LanguageModel.initialize(settings.model(), root), 0, 0);
            Random r = new Random(3);
            for (int i = 0; i < 3; i++) assertFalse(trainer.step(TinyRuns.rows(r, 8)).skipped());
            List<float[]> params = trainer.model().parameters().values().stream().map(p -> p.toFloatArray()).toList();
            trainer.close();
            return params;
        }
    }

    @Test
    void accumulatedGradientsEqualOneBigBatch() {
        List<float[]> whole = train(8);
        for (int micro : new int[] {2, 3}) {
            List<float[]> accumulated = train(micro);
            for (int i = 0; i < whole.size(); i++) assertArrayEquals(whole.get(i), accumulated.get(i), 2e-5f, "micro " + micro);
        }
    }

    @Test
    void microBatchMustDivideNothingButFitTheBatch() {
        TrainSettings demo = TrainSettings.tinyDemo("t", 200, 8);
        assertThrows(IllegalArgumentException.class, () -> demo.withMicroBatchSize(0));
        assertThrows(IllegalArgumentException.class, () -> demo.withMicroBatchSize(demo.batchSize() + 1));
    }
}
