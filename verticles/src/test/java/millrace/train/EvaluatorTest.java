package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
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
        TrainSettings demo = TrainSettings.tinyDemo("t", 320, 64);
        TrainSettings settings = new TrainSettings("m", Gpt2Config.tiny(320, 64), "t", 4,
                new LearningRateSchedule(1e-2f, 1e-2f, 1, 1), 1f, demo.adam(), 1, 60, 2, 0);
        try (NDManager root = ModelTrainer.newRootManager()) {
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(11);
            ModelTrainer trainer = new ModelTrainer(settings, root, LanguageModel.initialize(settings.model(), root), 0, 0);
            Evaluator.Result before = Evaluator.evaluate(trainer.model(), tokenizer, TEXT, 10);
            assertEquals(Math.log(320), before.loss(), 0.3);
            assertEquals(4, before.lines());

            // what the evaluation reads: the whole text (one window) and each line on its own
            List<int[]> texts = new ArrayList<>();
            texts.add(tokenizer.encode(TEXT));
            for (String line : TEXT.split("\n")) texts.add(tokenizer.encode(line));
            assertTrue(texts.get(0).length <= 65, "the text must fit one window");
            for (int step = 0; step < 300; step++) {
                int[] row = texts.get(step % texts.size());
                trainer.step(List.of(row, row, row, row));
            }
            Evaluator.Result after = Evaluator.evaluate(trainer.model(), tokenizer, TEXT, 10);
            assertTrue(after.perplexity() < 3.0, "perplexity " + after.perplexity()); // from about 320 before training
            assertTrue(after.lastWordAccuracy() >= 0.25, "last-word accuracy " + after.lastWordAccuracy());
            assertTrue(before.lastWordAccuracy() < after.lastWordAccuracy());
            trainer.close();
        }
    }
}
