package millrace.sft;

import millrace.model.CheckpointFormat;
import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.model.GradientLane;
import millrace.protocol.ChatMessage;
import millrace.protocol.SftExample;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;
import millrace.tokenizer.Vocabularies;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fine-tuning a tiny model end to end (base checkpoint → {@link SftRun} → {@link SftEval}), and the two properties the
 * loss rests on: nothing but the assistant's tokens is scored, and padding a row changes none of its figures.
 */
class SftTest {
    private static ByteLevelBpe plain;
    private static ByteLevelBpe chat;

    @TempDir
    Path dir;

    @BeforeAll
    static void tokenizer() throws Exception {
        plain = TinyChatModel.tokenizer();
        chat = ChatTemplate.withMarkers(plain);
    }

    private static final List<SftExample> EXAMPLES = TinyChatModel.EXAMPLES;

    private static SftExample example(String prompt, String answer) {
        return TinyChatModel.example(prompt, answer);
    }

    private Path base() throws Exception {
        return TinyChatModel.base(dir.resolve("pretrained/checkpoints"), plain);
    }

    @Test
    void aFineTunedModelAnswersItsExamplesAndEndsItsTurn() throws Exception {
        Path base = base();
        SftEval.Result before = SftEval.evaluate(base, EXAMPLES, 24, 0);
        assertEquals(0, before.exactMatch());
        assertTrue(before.answerLoss() > 4, "an untrained model: " + before);

        List<String> log = new ArrayList<>();
        Path tuned = TinyChatModel.fineTune(base, dir.resolve("data"), "chat", log::add);
        assertEquals(chat.vocabSize(), CheckpointFormat.readMeta(tuned).config().vocabSize());
        assertEquals(150, CheckpointFormat.readMeta(tuned).step());
        assertEquals("150", CheckpointFormat.readMeta(tuned).positions().get("sft.epoch"));
        assertTrue(ChatTemplate.supports(CheckpointFormat.loadTokenizer(tuned)));
        assertEquals(ChatTemplate.JINJA, Vocabularies.chatTemplate(tuned.resolve(CheckpointFormat.TOKENIZER_CONFIG)).orElseThrow(),
                "transformers renders the same prompts");

        SftEval.Result after = SftEval.evaluate(tuned, EXAMPLES, 48, 4);
        assertEquals(4, after.examples());
        assertTrue(after.answerLoss() < 0.05, "memorised: " + after);
        assertEquals(1.0, after.endOfTurnRate(), "every answer ends with <|im_end|>: " + after.samples());
        assertEquals(1.0, after.exactMatch(), after.samples().toString());
        assertEquals(1.0, after.tokenF1(), 1e-9);

        // the web role and ./millrace generate serve it as a chat model; the base is none
        try (millrace.web.Generator served = millrace.web.Generator.load(tuned)) {
            assertTrue(served.chat());
            millrace.web.Generator.Answer answer = served.generate("Who wrote the letter?", new millrace.model.Sampler.Settings(48, 0f, 0, 0),
                    true, piece -> { });
            assertEquals("Jude, the servant of Jesus Christ.", answer.text());
            assertTrue(answer.finished(), "stopped at <|im_end|>");
        }
        try (millrace.web.Generator pretrained = millrace.web.Generator.load(base)) {
            assertFalse(pretrained.chat(), "its vocabulary has the markers, but it was never fine-tuned on conversations");
            assertThrows(millrace.web.Generator.NotChat.class,
                    () -> pretrained.generate("Hi", new millrace.model.Sampler.Settings(4, 0f, 0, 0), true, piece -> { }));
        }
    }

    /**
     * A Llama-family chat model as users download it — a Hugging Face directory with a chat template of its own, not
     * ChatML — fine-tunes in that template: its checkpoints keep the template and tokenizer, answers end at its end of
     * turn; and {@code --max-steps} overrides {@code --epochs} (one epoch of one step asked for, 150 steps taken).
     */
    @Test
    void aHuggingFaceLlamaChatModelFineTunesInItsOwnTemplateForMaxSteps() throws Exception {
        String template = "{% for m in messages %}<|im_start|>{{ m['role'] }}:\n{{ m['content'] }}<|im_end|>{% endfor %}"
                + "{% if add_generation_prompt %}<|im_start|>assistant:\n{% endif %}";
        Path hf = dir.resolve("hf");
        try (NDManager root = ModelTrainer.newRootManager();
                LanguageModel model = LanguageModel.initialize(millrace.model.LlamaConfig.tiny(chat.vocabSize(), 96), root)) {
            millrace.model.HuggingFace.export(model, (out, context) -> {
                Vocabularies.writeHuggingFace(chat, out.resolve(CheckpointFormat.TOKENIZER));
                java.nio.file.Files.writeString(out.resolve(CheckpointFormat.TOKENIZER_CONFIG), millrace.protocol.JsonSerde.MAPPER
                        .createObjectNode().put("chat_template", template).put("eos_token", ChatTemplate.END).toString());
            }, null, chat.specials().get(ChatTemplate.END), hf);
        }
        SftSettings settings = new SftSettings("llama-chat", hf, dir.resolve("data/examples.jsonl"), 1, 4, 3e-3f, 3e-4f, 5, 150,
                7, 600, 2, true, "cpu");
        try (SftRun run = new SftRun(settings, dir.resolve("data"), line -> { })) {
            run.trainFile(run.rows(EXAMPLES));
        }
        Path tuned = new millrace.train.CheckpointStore(dir.resolve("data/checkpoints"), "llama-chat", 2).latest().orElseThrow();
        assertInstanceOf(millrace.model.LlamaConfig.class, CheckpointFormat.readMeta(tuned).config());
        assertEquals(150, CheckpointFormat.readMeta(tuned).step(), "--max-steps, not one epoch");
        assertEquals(template, Vocabularies.chatTemplate(tuned.resolve(CheckpointFormat.TOKENIZER_CONFIG)).orElseThrow(),
                "the model's own template goes with it");
        assertEquals(chat.id(), CheckpointFormat.loadTokenizer(tuned).id());
        SftEval.Result after = SftEval.evaluate(tuned, EXAMPLES, 48, 4);
        assertTrue(after.answerLoss() < 0.05, "memorised: " + after);
        assertEquals(1.0, after.endOfTurnRate(), after.samples().toString());
        assertEquals(1.0, after.exactMatch(), after.samples().toString());
        try (millrace.web.Generator served = millrace.web.Generator.load(tuned)) {
            assertEquals("Jude, the servant of Jesus Christ.", served.generate("Who wrote the letter?",
                    new millrace.model.Sampler.Settings(48, 0f, 0, 0), true, piece -> { }).text());
        }
    }

    @Test
    void onlyTheAssistantsTokensAreScored() throws Exception {
        List<ChatMessage> conversation = List.of(new ChatMessage("system", "Answer from the letter."),
                new ChatMessage("user", "Who wrote it?"), new ChatMessage("assistant", "Jude."),
                new ChatMessage("user", "To whom?"), new ChatMessage("assistant", "To the called."));
        ScoredSequence row = PromptFormat.of(chat, true).conversation(conversation, 128);
        int end = chat.specials().get(ChatTemplate.END);
        // the scored targets are exactly each answer's tokens and its <|im_end|>
        List<Integer> scoredTokens = new ArrayList<>();
        for (int j = 0; j < row.scored().length; j++) if (row.scored()[j]) scoredTokens.add(row.ids()[j + 1]);
        List<Integer> expected = new ArrayList<>();
        for (String answer : List.of("Jude.", "To the called.")) {
            for (int id : chat.encode(answer)) expected.add(id);
            expected.add(end);
        }
        assertEquals(expected, scoredTokens);

        // and no other position's output reaches the loss: its gradient is exactly zero
        try (NDManager root = ModelTrainer.newRootManager();
                LanguageModel gpt = LanguageModel.initialize(Gpt2Config.tiny(chat.vocabSize(), 128), root);
                NDManager scope = root.newSubManager()) {
            gpt.attachTo(scope);
            int positions = row.ids().length - 1;
            NDArray hidden = scope.randomNormal(new Shape(1, positions, 64));
            hidden.setRequiresGradient(true);
            try (GradientLane.Pass lane = GradientLane.open()) {
                lane.backward(ScoredSequence.logProbSums(gpt, hidden, List.of(row), ScoredSequence.Layout.padded(List.of(row)), scope).sum());
            }
            float[] gradient = hidden.getGradient().toFloatArray();
            for (int j = 0; j < positions; j++) {
                float[] at = Arrays.copyOfRange(gradient, j * 64, (j + 1) * 64);
                float norm = 0;
                for (float g : at) norm += g * g;
                if (row.scored()[j]) assertTrue(norm > 0, "scored position " + j + " has a gradient");
                else assertEquals(0f, norm, "position " + j + " is context: no gradient");
            }
        }
    }

    /** Padded, packed (with the fused kernel and written out): each sequence's figures are the ones it has alone. */
    @Test
    void neitherPaddingNorPackingChangesASequencesFigures() {
        PromptFormat format = PromptFormat.of(chat, true);
        List<ScoredSequence> rows = new ArrayList<>();
        for (SftExample e : EXAMPLES) rows.add(format.conversation(e.messages(), 128));
        rows.add(format.conversation(List.of(new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Peace.")), 128));
        assertTrue(rows.stream().mapToInt(r -> r.ids().length).distinct().count() > 1, "rows of different lengths");
        ScoredSequence.Layout packed = ScoredSequence.Layout.packed(rows, 128);
        assertTrue(packed.rows() < rows.size(), "several sequences share a row: " + packed.rows());
        assertTrue(packed.fill(rows) > ScoredSequence.Layout.padded(rows).fill(rows));
        try (NDManager root = ModelTrainer.newRootManager(); LanguageModel gpt = LanguageModel.initialize(Gpt2Config.tiny(chat.vocabSize(), 128), root)) {
            float[] alone = new float[rows.size()];
            double sum = 0;
            int scored = 0;
            for (int r = 0; r < rows.size(); r++) {
                try (NDManager scope = root.newSubManager()) {
                    gpt.attachTo(scope);
                    alone[r] = ScoredSequence.logProbSums(gpt, List.of(rows.get(r)), scope).getFloat();
                    sum += alone[r];
                    scored += rows.get(r).scoredCount();
                }
            }
            for (boolean fused : new boolean[] {true, false}) {
                gpt.useFusedKernels(fused);
                for (ScoredSequence.Layout layout : List.of(ScoredSequence.Layout.padded(rows), packed)) {
                    try (NDManager scope = root.newSubManager()) {
                        gpt.attachTo(scope);
                        assertArrayEquals(alone, ScoredSequence.logProbSums(gpt, rows, layout, scope).toFloatArray(), 1e-4f,
                                (layout.packed() ? "packed" : "padded") + (fused ? ", fused" : ", written out"));
                    }
                }
            }
            gpt.useFusedKernels(true);
            // the loss is the mean over the batch's scored tokens (TRL's), not a mean of per-row means
            assertEquals(-sum / scored, SftStep.loss(gpt, root, rows, true), 1e-4);
            assertEquals(-sum / scored, SftStep.loss(gpt, root, rows, false), 1e-4);
        }
    }

    @Test
    void aRunResumesOnlyOnItsOwnExamplesAndBase() throws Exception {
        Path base = base();
        TinyChatModel.fineTune(base, dir.resolve("data"), "chat", line -> { });
        SftSettings same = TinyChatModel.settings("chat", base, dir.resolve("data"));
        try (SftRun run = new SftRun(same, dir.resolve("data"), line -> { })) {
            assertEquals(0, run.trainFile(run.rows(EXAMPLES)), "the run is done");
        }
        try (SftRun run = new SftRun(same, dir.resolve("data"), line -> { })) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> run.trainFile(run.rows(EXAMPLES.subList(0, 3))));
            assertTrue(e.getMessage().contains("resume it with the same file"), e.getMessage());
        }
        Path other = TinyChatModel.base(dir.resolve("other"), plain);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new SftRun(TinyChatModel.settings("chat", other, dir.resolve("data")), dir.resolve("data"), line -> { }));
        assertTrue(e.getMessage().contains("was fine-tuned from"), e.getMessage());
    }

    @Test
    void aConversationLongerThanTheContextIsLeftOutNotCut() throws Exception {
        Path base = base();
        SftExample tooLong = example("Tell the whole letter.", "Jude ".repeat(200));
        SftSettings settings = new SftSettings("chat", base, dir.resolve("unused.jsonl"), 1, 4, 1e-3f, 1e-4f, 0, 0, 7, 600, 2, true, "cpu");
        try (SftRun run = new SftRun(settings, dir.resolve("data"), line -> { })) {
            List<SftRun.Row> rows = run.rows(List.of(EXAMPLES.get(0), tooLong));
            assertEquals(List.of(EXAMPLES.get(0).id()), rows.stream().map(SftRun.Row::id).toList());
        }
    }
}
