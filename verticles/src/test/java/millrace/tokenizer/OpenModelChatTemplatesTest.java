package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import millrace.ChatTemplateReference;
import millrace.OpenTokenizers;
import millrace.protocol.ChatMessage;
import millrace.sft.PromptFormat;
import millrace.sft.ScoredSequence;
import millrace.tokenizer.jinja.ChatTemplateException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The models' own templates — the real Llama 3 and Qwen3 {@code tokenizer_config.json}, and Millrace's ChatML as it
 * writes it — read from their directories: the text is transformers' {@code apply_chat_template(...,
 * tokenize=False)}, the ids its {@code tokenize=True} where the tokenizer is Millrace's to match, the trained tokens
 * spell the answers and their ends, and the stop tokens are the model's. transformers renders every case in one
 * Python process.
 */
class OpenModelChatTemplatesTest {
    private static final List<ChatMessage> THREE_ROUNDS = List.of(
            new ChatMessage("system", "You answer briefly."),
            new ChatMessage("user", "What does the word \"lamp\" mean?"),
            new ChatMessage("assistant", "A vessel that gives light."),
            new ChatMessage("user", "And \"river\"?\n"),
            new ChatMessage("assistant", "A large stream of water\nflowing to the sea."),
            new ChatMessage("user", "Ünïcödé — 日本語 🙂, and an empty answer next"),
            new ChatMessage("assistant", ""));
    /** Answers with their reasoning, as Qwen3 writes them. */
    private static final List<ChatMessage> THINKING = List.of(
            new ChatMessage("user", "2+2?"),
            new ChatMessage("assistant", "<think>\nAdd them.\n</think>\n\n4"),
            new ChatMessage("user", "And 3+3?"),
            new ChatMessage("assistant", "<think>\nEasy.\n</think>\n\n6"));

    @TempDir
    static Path temp;

    private static Model llama3;
    private static Model qwen3;
    private static Model chatMl;
    private static final List<Case> cases = new ArrayList<>();
    private static List<JsonNode> reference;

    private record Model(String name, Path dir, ByteLevelBpe tokenizer, ChatTemplate template) {}

    /** A conversation, the generation prompt or not, the template's extra variables; whether ids are compared too. */
    private record Case(Model model, List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> variables,
            boolean ids) {
        String name() {
            return model.name() + ", " + messages.size() + " messages" + (addGenerationPrompt ? ", generation prompt" : "")
                    + (variables.isEmpty() ? "" : ", " + variables);
        }
    }

    @BeforeAll
    static void renderEveryCaseWithTransformers() throws Exception {
        llama3 = model("Llama 3", OpenTokenizers.llama3());
        qwen3 = model("Qwen3", OpenTokenizers.qwen3());
        ByteLevelBpe chat = ChatTemplate.withMarkers(Vocabularies.builtin("r50k"));
        Path dir = Files.createDirectories(temp.resolve("chatml"));
        Vocabularies.writeHuggingFace(chat, dir.resolve("tokenizer.json"));
        Vocabularies.writeHuggingFaceConfig(chat, 1024, true, dir.resolve("tokenizer_config.json"));
        chatMl = model("Millrace's ChatML", dir);

        ChatTemplateReference transformers = new ChatTemplateReference();
        for (Model m : List.of(llama3, qwen3, chatMl)) {
            // Qwen3's non-special added tokens (<think>) are split out by Hugging Face's tokenizer, not yet by Millrace's
            boolean ids = m != qwen3;
            for (List<ChatMessage> conversation : List.of(THREE_ROUNDS, THINKING)) {
                for (int n = 2; n <= conversation.size(); n++) {
                    if (conversation == THINKING && n % 2 == 1) continue;
                    for (boolean add : new boolean[] {false, true}) {
                        cases.add(new Case(m, conversation.subList(0, n), add, Map.of(), ids));
                        if (m == qwen3) cases.add(new Case(m, conversation.subList(0, n), add, Map.of("enable_thinking", false), false));
                    }
                }
            }
            cases.add(new Case(m, List.of(new ChatMessage("user", "Is the sky blue?")), true, Map.of(), ids));
        }
        for (Case c : cases) {
            ObjectNode spec = transformers.withTokenizer(c.model().dir(), null, maps(c.messages()), c.addGenerationPrompt());
            if (!c.variables().isEmpty()) spec.set("kwargs", millrace.protocol.JsonSerde.MAPPER.valueToTree(c.variables()));
            spec.put("ids", c.ids());
        }
        reference = transformers.render();
    }

    private static Model model(String name, Path dir) throws IOException {
        ByteLevelBpe tokenizer = Vocabularies.read(dir.resolve("tokenizer.json"));
        return new Model(name, dir, tokenizer, ChatTemplate.read(dir, tokenizer).orElseThrow());
    }

    @Test
    void theTextIsWhatTransformersRenders() {
        List<String> differ = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            String text = c.model().template().withVariables(c.variables()).text(c.messages(), c.addGenerationPrompt());
            if (!text.equals(reference.get(i).get("text").asText())) differ.add(c.name() + ": " + text);
        }
        assertEquals(List.of(), differ);
        assertTrue(cases.size() > 40, cases.size() + " cases");
    }

    @Test
    void theIdsAreWhatTransformersTokenizes() {
        int compared = 0;
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            if (!c.ids()) continue;
            int[] expected = new int[reference.get(i).get("ids").size()];
            for (int j = 0; j < expected.length; j++) expected[j] = reference.get(i).get("ids").get(j).asInt();
            assertArrayEquals(expected, c.model().template().render(c.messages(), c.addGenerationPrompt()).ids(), c.name());
            compared++;
        }
        assertTrue(compared > 20, compared + " cases");
    }

    /** The trained tokens, run by run, spell each answer and the token that ends it, and nothing of the other turns. */
    @Test
    void theTrainedTokensAreTheAnswersAndTheirEnds() {
        assertEquals(List.of("A vessel that gives light.<|eot_id|>", "A large stream of water\nflowing to the sea.<|eot_id|>",
                "<|eot_id|>"), trainedRuns(llama3, THREE_ROUNDS));
        assertEquals(List.of("<think>\nAdd them.\n</think>\n\n4<|eot_id|>", "<think>\nEasy.\n</think>\n\n6<|eot_id|>"),
                trainedRuns(llama3, THINKING), "Llama 3 keeps the text as it is");
        assertEquals(List.of("A vessel that gives light.<|im_end|>", "A large stream of water\nflowing to the sea.<|im_end|>",
                "<|im_end|>"), trainedRuns(chatMl, THREE_ROUNDS));
        // Qwen3 drops the reasoning of answers before the last question, and gives the last answer a thought: empty
        // when it had none; that thought is what the model is asked to write after Qwen3's prompt, so it is trained
        assertEquals(List.of("A vessel that gives light.<|im_end|>", "A large stream of water\nflowing to the sea.<|im_end|>",
                "<think>\n\n</think>\n\n<|im_end|>"), trainedRuns(qwen3, THREE_ROUNDS));
        assertEquals(List.of("4<|im_end|>", "<think>\nEasy.\n</think>\n\n6<|im_end|>"), trainedRuns(qwen3, THINKING));
        // without thinking the prompt ends in an empty thought: the answer after it is what is trained; earlier turns,
        // which the template writes without that thought, cannot be found behind such a prompt, and are refused
        ChatTemplate noThinking = qwen3.template().withVariables(Map.of("enable_thinking", false));
        assertEquals(List.of("4<|im_end|>"), trainedRuns(noThinking, qwen3.tokenizer(),
                List.of(new ChatMessage("user", "2+2?"), new ChatMessage("assistant", "4"))));
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> noThinking.render(THINKING, false));
        assertTrue(e.getMessage().endsWith("chat_template: message 2 (an assistant's) cannot be told apart: the conversation "
                + "before it, rendered as a prompt, does not begin the whole conversation"), e.getMessage());
    }

    @Test
    void theStopTokensAreTheEndOfTurnAndTheModelsEndsOfSequence() throws IOException {
        ByteLevelBpe llama = llama3.tokenizer();
        assertEquals(llama.specials().get("<|eot_id|>"), llama3.template().endOfTurn());
        assertArrayEquals(new int[] {llama.specials().get("<|end_of_text|>"), llama.specials().get("<|eot_id|>")},
                llama3.template().stopTokens());
        assertEquals(qwen3.tokenizer().specials().get("<|im_end|>"), qwen3.template().endOfTurn());
        assertArrayEquals(new int[] {qwen3.tokenizer().specials().get("<|im_end|>")}, qwen3.template().stopTokens());
        assertArrayEquals(new int[] {chatMl.tokenizer().specials().get(ChatTemplate.END)}, chatMl.template().stopTokens());
        assertTrue(chatMl.template().isChatMl());
        // generation_config.json's eos_token_id joins them, one id or a list
        Path withGenerationConfig = Files.createDirectories(temp.resolve("llama3-generation-config"));
        Files.copy(llama3.dir().resolve("tokenizer_config.json"), withGenerationConfig.resolve("tokenizer_config.json"));
        Files.writeString(withGenerationConfig.resolve("generation_config.json"), "{\"eos_token_id\": [128001, 128008, 128009]}");
        assertArrayEquals(new int[] {128001, 128008, 128009}, ChatTemplate.read(withGenerationConfig, llama).orElseThrow().stopTokens());
        Files.writeString(withGenerationConfig.resolve("generation_config.json"), "{\"eos_token_id\": \"eos\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ChatTemplate.read(withGenerationConfig, llama));
        assertEquals(withGenerationConfig.resolve("generation_config.json") + ": eos_token_id is not an id or a list of ids", e.getMessage());
    }

    /** A model is asked and scored in its template: the prompt ends in the assistant's header, the answer at its end of turn. */
    @Test
    void aPromptAndAnAnswerGoThroughTheModelsTemplate() {
        PromptFormat format = PromptFormat.of(llama3.tokenizer(), llama3.template());
        int[] prompt = format.prompt("Is the sky blue?");
        assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nIs the sky blue?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", llama3.tokenizer().decode(prompt));
        ScoredSequence answer = format.answer("Is the sky blue?", "Yes.", 64);
        assertEquals(llama3.tokenizer().encode("Yes.").length + 1, answer.scoredCount());
        assertEquals(llama3.template().endOfTurn(), answer.ids()[answer.ids().length - 1]);
        assertArrayEquals(prompt, Arrays.copyOf(answer.ids(), prompt.length), "scored after the prompt it answers");
        assertTrue(format.isStop(llama3.tokenizer().specials().get("<|end_of_text|>")));
    }

    /** Mistral's template puts the system message into the last user turn: a turn's prompt is not where it starts. */
    @Test
    void aTemplateThatRewritesEarlierTurnsIsRefusedWithTheTurn() {
        ByteLevelBpe tokenizer = Vocabularies.builtin("r50k").withSpecials(List.of("<s>", "</s>"));
        ChatTemplate mistral = ChatTemplate.of(tokenizer, ChatTemplateReference.template("mistral-instruct-v0.3"),
                "mistral-instruct-v0.3.jinja", Map.of("bos_token", "<s>", "eos_token", "</s>"), List.of(tokenizer.specials().get("</s>")));
        assertEquals(tokenizer.specials().get("</s>"), mistral.endOfTurn());
        assertEquals(List.of(" A vessel that gives light.</s>", " A large stream of water\nflowing to the sea.</s>"),
                trainedRuns(mistral, tokenizer, THREE_ROUNDS.subList(1, 5)), "without a system message it is a prefix");
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> mistral.render(THREE_ROUNDS.subList(0, 3), false));
        assertEquals("mistral-instruct-v0.3.jinja: message 3 (an assistant's) cannot be told apart: the conversation before "
                + "it, rendered as a prompt, does not begin the whole conversation", e.getMessage());
    }

    private static List<String> trainedRuns(Model m, List<ChatMessage> messages) {
        return trainedRuns(m.template(), m.tokenizer(), messages);
    }

    private static List<String> trainedRuns(ChatTemplate template, ByteLevelBpe tokenizer, List<ChatMessage> messages) {
        ChatTemplate.Rendered r = template.render(messages, false);
        List<String> runs = new ArrayList<>();
        List<Integer> run = new ArrayList<>();
        for (int j = 0; j <= r.trained().length; j++) {
            if (j < r.trained().length && r.trained()[j]) {
                run.add(r.ids()[j + 1]);
            } else if (!run.isEmpty()) {
                runs.add(tokenizer.decode(run.stream().mapToInt(Integer::intValue).toArray()));
                run.clear();
            }
        }
        return runs;
    }

    private static List<Map<String, Object>> maps(List<ChatMessage> messages) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            out.add(map);
        }
        return out;
    }
}
