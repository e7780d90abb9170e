package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import millrace.ExternalTools;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.protocol.ChatMessage;
import millrace.sft.PromptFormat;
import millrace.sft.ScoredSequence;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.Test;

/** The chat format: markers as special tokens, rendering, what is trained, plain answers, scored log-probabilities. */
class ChatTemplateTest {
    private static final ByteLevelBpe R50K = Vocabularies.builtin("r50k");
    private static final ByteLevelBpe CHAT = ChatTemplate.withMarkers(R50K);
    private static final List<ChatMessage> CONVERSATION = List.of(
            new ChatMessage("system", "You answer briefly."),
            new ChatMessage("user", "What does the word \"lamp\" mean?"),
            new ChatMessage("assistant", "A vessel that gives light."),
            new ChatMessage("user", "And \"river\"?"),
            new ChatMessage("assistant", " A large stream of water\nflowing to the sea."));

    @Test
    void theMarkersAreSpecialTokensAfterTheVocabulary() {
        assertEquals(50257, CHAT.specials().get(ChatTemplate.START));
        assertEquals(50258, CHAT.specials().get(ChatTemplate.END));
        assertEquals(50259, CHAT.vocabSize());
        assertNotEquals(R50K.id(), CHAT.id(), "another vocabulary, another id");
        assertArrayEquals(R50K.encode("plain text is encoded the same"), CHAT.encode("plain text is encoded the same"));
        assertSame(CHAT, ChatTemplate.withMarkers(CHAT), "adding markers twice adds nothing");
        assertFalse(ChatTemplate.supports(R50K));
        // r50k's shards are a chat model's text: its pretraining rows in the feedback role
        assertEquals(java.util.Set.of(CHAT.id(), R50K.id()), ChatTemplate.textTokenizerIds(CHAT));
        assertEquals(java.util.Set.of(R50K.id()), ChatTemplate.textTokenizerIds(R50K));
        assertEquals(R50K.id(), CHAT.withoutSpecials(List.of(ChatTemplate.START, ChatTemplate.END)).id());
    }

    /** Render → tokenize → the mask covers exactly the assistant turns and their end-of-turn tokens, token by token. */
    @Test
    void aConversationRoundTripsAndOnlyTheAssistantsTokensAreTrained() {
        ChatTemplate t = ChatTemplate.chatMl(CHAT);
        ChatTemplate.Rendered r = t.render(CONVERSATION, false);
        String text = t.text(CONVERSATION, false);
        assertEquals(text, CHAT.decode(r.ids()), "the ids decode to the template's text");
        assertArrayEquals(CHAT.encodeWithSpecials(text), r.ids(), "as a tokenizer that splits at the markers encodes it");
        // walk the targets: the trained ones, in order, must spell each assistant turn and then <|im_end|>
        List<String> trainedSpans = new ArrayList<>();
        List<Integer> span = new ArrayList<>();
        for (int j = 0; j < r.trained().length; j++) {
            if (r.trained()[j]) {
                span.add(r.ids()[j + 1]);
            } else if (!span.isEmpty()) {
                trainedSpans.add(CHAT.decode(span.stream().mapToInt(Integer::intValue).toArray()));
                span.clear();
            }
        }
        if (!span.isEmpty()) trainedSpans.add(CHAT.decode(span.stream().mapToInt(Integer::intValue).toArray()));
        assertEquals(List.of("A vessel that gives light.<|im_end|>", " A large stream of water\nflowing to the sea.<|im_end|>"),
                trainedSpans);
        // asking for an answer ends in the assistant's header
        ChatTemplate.Rendered ask = t.render(CONVERSATION.subList(0, 2), true);
        assertTrue(CHAT.decode(ask.ids()).endsWith("<|im_start|>assistant\n"));
        for (boolean b : ask.trained()) assertFalse(b, "nothing to train in a prompt");
    }

    /** Hugging Face's template, rendered by Jinja as transformers renders it, gives the same text. */
    @Test
    void theJinjaTemplateRendersTheSameText() throws Exception {
        if (!ExternalTools.available("python3", "apt-get install python3 python3-jinja2")) return;
        Path script = Files.createTempFile("millrace-jinja", ".py");
        Files.writeString(script, """
                import json, sys
                import jinja2
                spec = json.load(sys.stdin)
                env = jinja2.Environment()
                sys.stdout.write(env.from_string(spec["template"]).render(messages=spec["messages"], add_generation_prompt=spec["add"]))
                """);
        for (boolean add : new boolean[] {false, true}) {
            var spec = millrace.protocol.JsonSerde.MAPPER.createObjectNode().put("template", ChatTemplate.JINJA).put("add", add);
            spec.set("messages", millrace.protocol.JsonSerde.MAPPER.valueToTree(CONVERSATION));
            Process p = new ProcessBuilder("/usr/bin/python3", script.toString()).start();
            p.getOutputStream().write(spec.toString().getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String rendered = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() != 0 && err.contains("No module named 'jinja2'")) {
                assertFalse("1".equals(System.getenv("MILLRACE_REQUIRE_TOOLS")), "python3-jinja2 is not installed");
                return;
            }
            assertEquals(0, p.exitValue(), err);
            assertEquals(ChatTemplate.chatMl(CHAT).text(CONVERSATION, add), rendered);
        }
    }

    @Test
    void aConversationTooLongForTheContextIsRefusedAndItsLastNewlineLeftOff() {
        PromptFormat chat = PromptFormat.of(CHAT, true);
        ScoredSequence s = chat.conversation(CONVERSATION, 128);
        assertNotNull(s);
        assertEquals(CHAT.specials().get(ChatTemplate.END), s.ids()[s.ids().length - 1]);
        assertTrue(s.scored()[s.scored().length - 1]);
        assertNull(chat.conversation(CONVERSATION, 20));
    }

    @Test
    void aPlainAnswerIsScoredOnItselfAndItsEndAndCutToTheContext() {
        PromptFormat plain = PromptFormat.of(R50K, false);
        assertFalse(plain.chat());
        ScoredSequence s = plain.answer("Is the sky blue?", " yes", 16);
        int[] prompt = R50K.encode("Is the sky blue?");
        int[] answer = R50K.encode(" yes");
        assertEquals(prompt.length + answer.length + 1, s.ids().length);
        assertEquals(answer.length + 1, s.scoredCount(), "the answer, then the end-of-text token");
        for (int j = 0; j < s.scored().length; j++) assertEquals(j >= prompt.length - 1, s.scored()[j]);
        assertEquals(R50K.endOfText(), s.ids()[s.ids().length - 1]);
        ScoredSequence cut = plain.answer("Is the sky blue? Is grass green? Is the sky blue? Is grass green? Is it?", " yes", 16);
        assertEquals(17, cut.ids().length, "the prompt loses its oldest tokens");
        assertEquals(answer.length + 1, cut.scoredCount());
        ScoredSequence huge = plain.answer("Q", " yes it is. no it is not. maybe so. yes. no. maybe so. yes it is.", 16);
        assertTrue(huge.scored()[0], "one prompt token stays, and the answer is cut");
        assertEquals(16, huge.scoredCount());
        // a chat model's answer: scored on the assistant's content and <|im_end|>, not on the template's newline
        ScoredSequence c = PromptFormat.of(CHAT, true).answer("Is the sky blue?", "Yes.", 64);
        assertEquals(CHAT.specials().get(ChatTemplate.END), c.ids()[c.ids().length - 1]);
        assertEquals(R50K.encode("Yes.").length + 1, c.scoredCount());
        assertEquals(CHAT.specials().get(ChatTemplate.END), PromptFormat.of(CHAT, true).stopToken());
    }

    @Test
    void scoredLogProbabilitiesAreTheSameInABatchAsAloneAndAsTheWholeSoftmaxSays() {
        try (var root = ModelTrainer.newRootManager(); var scope = root.newSubManager()) {
            LanguageModel gpt = LanguageModel.initialize(Gpt2Config.tiny(CHAT.vocabSize(), 64), root);
            gpt.attachTo(scope);
            PromptFormat chat = PromptFormat.of(CHAT, true);
            List<ScoredSequence> both = List.of(chat.conversation(CONVERSATION, 64), PromptFormat.of(R50K, false).answer("Is grass green?", " no", 64));
            float[] batch = ScoredSequence.logProbSums(gpt, both, scope).toFloatArray();
            for (int r = 0; r < 2; r++) {
                ScoredSequence s = both.get(r);
                float alone = ScoredSequence.logProbSums(gpt, List.of(s), scope).toFloatArray()[0];
                long[] ids = Arrays.stream(s.ids()).asLongStream().toArray();
                var logProbs = gpt.forward(scope.create(Arrays.copyOf(ids, ids.length - 1),
                        new ai.djl.ndarray.types.Shape(1, ids.length - 1)), false).logSoftmax(-1);
                double written = 0;
                for (int j = 0; j < s.scored().length; j++) if (s.scored()[j]) written += logProbs.getFloat(0, j, ids[j + 1]);
                assertEquals(written, alone, 1e-3, "row " + r);
                assertEquals(alone, batch[r], 1e-3, "padding changes nothing");
            }
        }
    }
}
