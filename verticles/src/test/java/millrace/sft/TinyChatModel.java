package millrace.sft;

import millrace.model.CheckpointFormat;
import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.protocol.JsonSerde;
import millrace.protocol.SftExample;
import millrace.tokenizer.BpeTrainer;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Pretokenizer;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;

/**
 * A tiny chat model made as users make one, in a second or two: a fresh GPT with a vocabulary trained on the letter of
 * Jude as the "pretrained" base, fine-tuned by {@link SftRun} until it knows four answers by heart — so a test can ask
 * it a question and know what it must say.
 */
public final class TinyChatModel {
    private TinyChatModel() {}

    public static final List<SftExample> EXAMPLES = List.of(
            example("Who wrote the letter?", "Jude, the servant of Jesus Christ."),
            example("To whom was it written?", "To them that are sanctified by God the Father."),
            example("What is wished them?", "Mercy unto you, and peace, and love, be multiplied."),
            example("Which angels are kept in chains?", "The angels which kept not their first estate."));

    static SftExample example(String prompt, String answer) {
        return SftData.parse(JsonSerde.MAPPER.createObjectNode().put("prompt", prompt).put("response", answer).toString(), "test");
    }

    /** A byte-level BPE of 400 tokens (its specials include the chat markers, as every trained vocabulary's do). */
    public static ByteLevelBpe tokenizer() throws Exception {
        BpeTrainer vocabulary = new BpeTrainer(Pretokenizer.GPT2);
        vocabulary.add(Files.readString(millrace.ExternalTools.repo().resolve("corpus/kjv/65-Jude.txt")));
        return vocabulary.train("jude", 400, 2, BpeTrainer.DEFAULT_SPECIALS);
    }

    /** A fresh (untrained) tiny model as a pretrained checkpoint under {@code root}: the base of a run. */
    public static Path base(Path root, ByteLevelBpe tokenizer) throws Exception {
        Gpt2Config config = Gpt2Config.tiny(tokenizer.vocabSize(), 96);
        TrainSettings demo = TrainSettings.tinyDemo(tokenizer.id(), tokenizer.vocabSize(), 96);
        TrainSettings settings = new TrainSettings("base", config, tokenizer.id(), 4, demo.schedule(), demo.clipNorm(), demo.adam(),
                3, 60, 2, 0);
        try (NDManager manager = ModelTrainer.newRootManager();
                ModelTrainer trainer = new ModelTrainer(settings, manager, LanguageModel.initialize(config, manager), 0, 0)) {
            return new CheckpointStore(root, "base", 2).write(trainer,
                    new CheckpointFormat.Meta("base", config, tokenizer.id(), 0, 0, 6f, null, 1L, null, 3L), tokenizer);
        }
    }

    /** The run {@link #fineTune} makes: 150 epochs of the four examples, batch 4, peak learning rate 3e-3. */
    static SftSettings settings(String name, Path base, Path dataDir) {
        return new SftSettings(name, base, dataDir.resolve("examples.jsonl"), 150, 4, 3e-3f, 3e-4f, 5, 0, 7, 600, 2, true, "cpu");
    }

    /** {@code base} fine-tuned on {@link #EXAMPLES} (150 steps) as {@code name} under {@code dataDir}; its checkpoint. */
    public static Path fineTune(Path base, Path dataDir, String name, Consumer<String> log) throws Exception {
        try (SftRun run = new SftRun(settings(name, base, dataDir), dataDir, log)) {
            List<SftRun.Row> rows = run.rows(EXAMPLES);
            if (rows.size() != EXAMPLES.size()) throw new AssertionError("every example fits the context");
            run.trainFile(rows);
        }
        return new CheckpointStore(dataDir.resolve("checkpoints"), name, 2).latest().orElseThrow();
    }
}
