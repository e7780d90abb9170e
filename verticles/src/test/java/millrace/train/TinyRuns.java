package millrace.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import millrace.model.Gpt2Config;
import millrace.model.ModelConfig;

/** A tiny model's training run for the trainer's tests: its settings, and rows of random ids for it. */
final class TinyRuns {
    private TinyRuns() {}

    /** Batches of 8 rows of 8 tokens over a 200-id vocabulary, {@code micro} rows a pass, seed 7. */
    static TrainSettings settings(int micro) {
        return settings(Gpt2Config.tiny(200, 8), micro);
    }

    /** The same for a tiny model of {@code family}'s ({@code millrace.model.TinyModels}). */
    static TrainSettings settings(ModelConfig family, int micro) {
        TrainSettings demo = TrainSettings.tinyDemo("t", 200, 8);
        return new TrainSettings("m", family.withVocabulary(200), "t", 8, demo.schedule(),
                demo.clipNorm(), demo.adam(), 7, 60, 2, 0).withMicroBatchSize(micro);
    }

    /** A trainer of {@code settings}' model, from the weights seed 7 draws, computing its loss as {@code loss}. */
    static ModelTrainer trainer(TrainSettings settings, ai.djl.ndarray.NDManager root, ModelTrainer.Loss loss) {
        ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(7);
        ModelTrainer trainer = new ModelTrainer(settings, root, millrace.model.LanguageModel.initialize(settings.model(), root), 0, 0);
        trainer.useLoss(loss);
        return trainer;
    }

    /** {@code n} rows of 9 random ids under 200: inputs and targets for {@link #settings}' model. */
    static List<int[]> rows(Random r, int n) {
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] row = new int[9];
            for (int j = 0; j < 9; j++) row[j] = r.nextInt(200);
            out.add(row);
        }
        return out;
    }
}
