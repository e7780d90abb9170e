package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import millrace.model.Gpt;
import millrace.model.GptConfig;
import millrace.model.LearningRateSchedule;
import millrace.tokenizer.BpeTrainer;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Pretokenizer;
import org.junit.jupiter.api.Test;

class EvaluatorTest {
    private static final String TEXT = String.join("\n",
            "In the beginning God created the heaven and the earth.",
            "And the earth was without form, and void.",
            "And God said, Let there be light: and there was light.",
            "And God saw the light, that it was good.");

    @Test
    void perplexityAndLastWordAccuracySeparateATrainedModelFromAnUntrainedOne() {
        BpeTrainer vocabulary = new BpeTrainer(Pretokenizer.GPT2);
        vocabulary.add(TEXT);
        ByteLevelBpe tokenizer = vocabulary.train("t", 320, 1, BpeTrainer.DEFAULT_SPECIALS);
        TrainSettings demo = TrainSettings.tinyDemo("t", 320, 32);
        TrainSettings settings = new TrainSettings("m", GptConfig.tiny(320, 32), "t", 4,
                new LearningRateSchedule(1e-2f, 1e-2f, 1, 1), 1f, demo.adam(), 1, 60, 2, 0);
        try (NDManager root = GptTrainer.newRootManager()) {
            GptTrainer trainer = new GptTrainer(settings, root, Gpt.initialize(settings.model(), root), 0, 0);
            Evaluator.Result before = Evaluator.evaluate(trainer.model(), tokenizer, TEXT, 10);
            assertEquals(Math.log(320), before.loss(), 0.3);
            assertEquals(4, before.lines());

            int[] ids = tokenizer.encode(TEXT);
            List<int[]> rows = new ArrayList<>();
            for (int s = 0; s + 33 <= ids.length; s += 8) rows.add(java.util.Arrays.copyOfRange(ids, s, s + 33));
            for (int step = 0; step < 300; step++) {
                List<int[]> batch = new ArrayList<>();
                for (int i = 0; i < 4; i++) batch.add(rows.get((step * 4 + i) % rows.size()));
                trainer.step(batch);
            }
            Evaluator.Result after = Evaluator.evaluate(trainer.model(), tokenizer, TEXT, 10);
            assertTrue(after.perplexity() < 5.0, "perplexity " + after.perplexity()); // from 320 before training
            assertTrue(after.lastWordAccuracy() >= 0.5, "last-word accuracy " + after.lastWordAccuracy());
            assertTrue(before.lastWordAccuracy() < after.lastWordAccuracy());
            trainer.close();
        }
    }
}
