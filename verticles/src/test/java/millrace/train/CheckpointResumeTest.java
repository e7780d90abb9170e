package millrace.train;

import millrace.model.CheckpointFormat;
import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.tokenizer.BpeTrainer;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Pretokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A trainer resumed from a checkpoint takes the very step the original would have taken next. */
class CheckpointResumeTest {
    private static List<int[]> rows(long seed) {
        Random r = new Random(seed);
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            int[] row = new int[9];
            for (int j = 0; j < 9; j++) row[j] = r.nextInt(300);
            out.add(row);
        }
        return out;
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(floats = {0f, 0.2f})
    void resumedTrainerContinuesExactly(float dropout, @TempDir Path dir) throws Exception {
        BpeTrainer vocabulary = new BpeTrainer(Pretokenizer.GPT2);
        vocabulary.add("a tiny vocabulary for a tiny model, a tiny vocabulary");
        ByteLevelBpe tokenizer = vocabulary.train("t", 300, 1, BpeTrainer.DEFAULT_SPECIALS);
        TrainSettings demo = TrainSettings.tinyDemo("t", 300, 8);
        Gpt2Config tiny = Gpt2Config.tiny(300, 8);
        Gpt2Config config = new Gpt2Config(tiny.nLayer(), tiny.nHead(), tiny.nEmbd(), tiny.blockSize(), tiny.vocabSize(), dropout);
        // with dropout the masks come from (seed, step): the resumed trainer must draw the same ones
        TrainSettings settings = new TrainSettings("m", config, "t", 4, demo.schedule(),
                demo.clipNorm(), demo.adam(), 1, 60, 2, 0);
        CheckpointStore store = new CheckpointStore(dir, "m", 2);
        try (NDManager root = ModelTrainer.newRootManager()) {
            ModelTrainer original = new ModelTrainer(settings, root, LanguageModel.initialize(settings.model(), root), 0, 0);
            for (int i = 0; i < 5; i++) original.step(rows(i));
            Path checkpoint = store.write(original, new CheckpointFormat.Meta("m", settings.model(), tokenizer.id(),
                    original.step(), original.tokensSeen(), 0f, null, 1L, null, original.seed()), tokenizer);
            assertTrue(Files.exists(checkpoint.resolve(CheckpointFormat.OPTIMIZER)));
            float originalLoss = original.step(rows(99)).loss();

            ModelTrainer resumed = CheckpointStore.resume(checkpoint, settings, root);
            assertEquals(5, resumed.step());
            float resumedLoss = resumed.step(rows(99)).loss();
            assertEquals(originalLoss, resumedLoss, 0f);
            for (String name : original.model().parameters().keySet()) {
                assertArrayEquals(original.model().parameters().get(name).toFloatArray(),
                        resumed.model().parameters().get(name).toFloatArray(), 1e-7f, name);
            }
            assertEquals(tokenizer.id(), CheckpointFormat.loadTokenizer(checkpoint).id());
            original.close();
            resumed.close();
        }
    }
}
