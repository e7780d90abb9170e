package millrace.tokenizer.jinja;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import millrace.ChatTemplateReference;
import millrace.protocol.JsonSerde;
import org.junit.jupiter.api.Test;

/**
 * The renderer says what transformers' apply_chat_template says, on the same template strings: real-world templates
 * (written into the test resources as their models publish them, near enough — only the agreement matters), a
 * template of the Python that templates write, and one of Jinja2's whitespace rules; over system, user and assistant
 * turns for three rounds, with and without the generation prompt, unicode, newlines, empty content, tools and tool
 * calls. All cases are rendered by transformers in one Python process.
 */
class ChatJinjaTest {
    private static final Map<String, String> SPECIAL_TOKENS = Map.of("bos_token", "<s>", "eos_token", "</s>");
    /** Templates that refuse a system message or want strict alternation get the conversation without it. */
    private static final List<String> NO_SYSTEM = List.of("gemma-it", "mistral-instruct-v0.3");
    private static final List<String> MODELS = List.of("smollm2-instruct", "llama-3.1-instruct", "llama-3.2-instruct",
            "qwen2.5-instruct", "gemma-it", "mistral-instruct-v0.3", "deepseek-r1-distill");
    private static final List<String> ENGINE = List.of("python-isms", "whitespace");

    private static final List<Map<String, Object>> CONVERSATION = List.of(
            message("system", "You answer briefly."),
            message("user", "What does the word \"lamp\" mean?"),
            message("assistant", "A vessel that gives light."),
            message("user", "And \"river\"?  \n"),
            message("assistant", " A large stream of water\nflowing to the sea. "),
            message("user", "Ünïcödé — 日本語 🙂, and an empty answer next"),
            message("assistant", ""),
            message("user", "{{ not a template }} {% if %}"));

    private static final List<Map<String, Object>> TOOLS = List.of(Map.of("type", "function", "function", Map.of(
            "name", "get_weather", "description", "Weather in a city, in °C",
            "parameters", Map.of("type", "object", "properties", Map.of("city", Map.of("type", "string"),
                    "days", Map.of("type", "integer", "minimum", 1.5)), "required", List.of("city")))));

    private static final List<Map<String, Object>> TOOL_CALLS = List.of(
            message("system", "Use tools."),
            message("user", "Weather in Oslo?"),
            withExtra(message("assistant", ""), "tool_calls", List.of(Map.of("type", "function", "function",
                    Map.of("name", "get_weather", "arguments", Map.of("city", "Oslo", "days", 2))))),
            message("tool", "{\"temp\": -3}"),
            message("assistant", "It is cold: -3 °C."));

    private static final String TODAY = "llama-3.2-instruct, no date given";
    private static List<Case> cases;
    private static List<JsonNode> reference;
    /** The case that writes today's date, rendered here just before transformers renders it. */
    private static String todayBeforeTransformers;

    /** A case: its name, the template, and the variables besides the special tokens. */
    private record Case(String name, String group, String template, ObjectNode spec) {}

    /** Every case of the class, rendered by transformers once. */
    private static synchronized List<JsonNode> reference() throws IOException, InterruptedException {
        if (reference != null) return reference;
        ChatTemplateReference transformers = new ChatTemplateReference();
        List<Case> all = new ArrayList<>();
        for (String name : concat(MODELS, ENGINE)) {
            String template = ChatTemplateReference.template(name);
            List<Map<String, Object>> conversation = NO_SYSTEM.contains(name) ? CONVERSATION.subList(1, CONVERSATION.size()) : CONVERSATION;
            List<Map<String, Object>> tools = ENGINE.contains(name) ? TOOLS : null; // python-isms prints them
            for (int n : new int[] {2, 3, 5, 7, conversation.size()}) {
                for (boolean add : new boolean[] {false, true}) {
                    ObjectNode spec = transformers.withSpecialTokens(SPECIAL_TOKENS, template, conversation.subList(0, n), add);
                    if (tools != null) spec.set("tools", JsonSerde.MAPPER.valueToTree(tools));
                    if (name.startsWith("llama")) spec.putObject("kwargs").put("date_string", "06 Dec 2025");
                    all.add(new Case(name + ", " + n + " messages" + (add ? ", generation prompt" : ""),
                            MODELS.contains(name) ? "model" : "engine", template, spec));
                }
            }
            // Windows line breaks in the template are Jinja2's newlines
            ObjectNode crlf = transformers.withSpecialTokens(SPECIAL_TOKENS, template.replace("\n", "\r\n"), conversation, true);
            if (tools != null) crlf.set("tools", JsonSerde.MAPPER.valueToTree(tools));
            crlf.putObject("kwargs").put("date_string", "06 Dec 2025");
            all.add(new Case(name + " with \\r\\n", MODELS.contains(name) ? "model" : "engine", template.replace("\n", "\r\n"), crlf));
        }
        for (String name : List.of("llama-3.1-instruct", "llama-3.2-instruct", "qwen2.5-instruct", "deepseek-r1-distill")) {
            for (int n : new int[] {3, 4, 5}) {
                ObjectNode spec = transformers.withSpecialTokens(SPECIAL_TOKENS, ChatTemplateReference.template(name), TOOL_CALLS.subList(0, n), true);
                spec.set("tools", JsonSerde.MAPPER.valueToTree(TOOLS));
                spec.putObject("kwargs").put("date_string", "06 Dec 2025");
                all.add(new Case(name + ", tool calls, " + n + " messages", "model", ChatTemplateReference.template(name), spec));
            }
        }
        List<Map<String, Object>> builtinCall = List.of(message("user", "Weather in Oslo?"), withExtra(message("assistant", ""),
                "tool_calls", List.of(Map.of("function", Map.of("name", "wolfram_alpha", "arguments", Map.of("query", "Oslo", "units", "metric"))))));
        ObjectNode builtin = transformers.withSpecialTokens(SPECIAL_TOKENS, ChatTemplateReference.template("llama-3.1-instruct"), builtinCall, false);
        builtin.putObject("kwargs").put("date_string", "x").set("builtin_tools", JsonSerde.MAPPER.valueToTree(List.of("get_weather", "wolfram_alpha")));
        all.add(new Case("llama-3.1-instruct, built-in tools", "model", ChatTemplateReference.template("llama-3.1-instruct"), builtin));
        ObjectNode inSystem = transformers.withSpecialTokens(SPECIAL_TOKENS, ChatTemplateReference.template("llama-3.1-instruct"), TOOL_CALLS, false);
        inSystem.set("tools", JsonSerde.MAPPER.valueToTree(TOOLS));
        inSystem.putObject("kwargs").put("tools_in_user_message", false).put("date_string", "x");
        all.add(new Case("llama-3.1-instruct, tools in the system message", "model", ChatTemplateReference.template("llama-3.1-instruct"), inSystem));
        // what the templates refuse, and what Jinja2 refuses
        errorCase(all, transformers, "gemma-it with a system message", ChatTemplateReference.template("gemma-it"), CONVERSATION.subList(0, 3));
        errorCase(all, transformers, "mistral-instruct-v0.3 with two user turns in a row", ChatTemplateReference.template("mistral-instruct-v0.3"),
                List.of(message("user", "a"), message("user", "b")));
        errorCase(all, transformers, "llama-3.1-instruct with two tool calls at once", ChatTemplateReference.template("llama-3.1-instruct"),
                List.of(message("user", "a"), withExtra(message("assistant", ""), "tool_calls", List.of(Map.of("function", Map.of()), Map.of("function", Map.of())))));
        errorCase(all, transformers, "a string plus a number", "{{ 'a' + messages | length }}", CONVERSATION);
        errorCase(all, transformers, "an unknown filter", "{{ messages | no_such_filter }}", CONVERSATION);
        errorCase(all, transformers, "a for without its end", "{% for m in messages %}{{ m.role }}", CONVERSATION);
        Case today = new Case(TODAY, "today", ChatTemplateReference.template("llama-3.2-instruct"),
                transformers.withSpecialTokens(SPECIAL_TOKENS, ChatTemplateReference.template("llama-3.2-instruct"), CONVERSATION.subList(0, 2), true));
        all.add(today);
        todayBeforeTransformers = render(today);
        List<JsonNode> answers = transformers.render();
        cases = all;
        reference = answers;
        return reference;
    }

    private static void errorCase(List<Case> all, ChatTemplateReference transformers, String name, String template,
            List<Map<String, Object>> messages) {
        all.add(new Case(name, "error", template, transformers.withSpecialTokens(SPECIAL_TOKENS, template, messages, false)));
    }

    @Test
    void realTemplatesRenderAsTransformersRendersThem() throws Exception {
        assertSameAsTransformers("model", 80);
    }

    @Test
    void pythonIsmsAndWhitespaceRenderAsJinja2RendersThem() throws Exception {
        assertSameAsTransformers("engine", 20);
    }

    private static void assertSameAsTransformers(String group, int atLeast) throws Exception {
        List<JsonNode> answers = reference();
        List<String> differ = new ArrayList<>();
        int compared = 0;
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            if (!c.group().equals(group)) continue;
            compared++;
            assertTrue(answers.get(i).has("text"), c.name() + ": transformers failed: " + answers.get(i));
            String expected = answers.get(i).get("text").asText();
            String actual = render(c);
            if (!expected.equals(actual)) differ.add(c.name() + ": " + firstDifference(expected, actual));
        }
        assertTrue(compared >= atLeast, "only " + compared + " cases");
        assertEquals(List.of(), differ, differ.size() + " of " + compared + " cases differ");
    }

    @Test
    void whatATemplateRefusesIsAOneLineErrorNamingIt() throws Exception {
        List<JsonNode> answers = reference();
        int compared = 0;
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            if (!c.group().equals("error")) continue;
            compared++;
            String pythonError = answers.get(i).path("error").asText(null);
            assertNotNull(pythonError, c.name() + ": transformers rendered it: " + answers.get(i));
            ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> render(c), c.name());
            assertTrue(e.getMessage().startsWith(c.name() + ": "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            if (pythonError.startsWith("TemplateError: ")) { // raise_exception's message, word for word
                assertEquals(c.name() + ": the template raised: " + pythonError.substring("TemplateError: ".length()), e.getMessage());
            }
        }
        assertEquals(6, compared);
    }

    /** Llama 3.2's template writes today's date when it is not given one, with transformers' strftime_now. */
    @Test
    void strftimeNowIsTodayAsPythonWritesIt() throws Exception {
        List<JsonNode> answers = reference();
        int i = indexOf(TODAY);
        String expected = answers.get(i).get("text").asText();
        String today = Strftime.now("%d %b %Y");
        String after = render(cases.get(i));
        assertTrue(expected.equals(todayBeforeTransformers) || expected.equals(after), firstDifference(expected, after)); // midnight between
        assertTrue(after.contains("Today Date: " + today + "\n") || after.contains("Today Date: " + Strftime.now("%d %b %Y") + "\n"), after);
    }

    @Test
    void aSyntaxErrorIsFoundWhenTheTemplateIsReadAndNamesIt() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> ChatJinja.compile("{% if messages %}\n{% endfor %}", "broken.jinja"));
        assertTrue(e.getMessage().startsWith("broken.jinja: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        e = assertThrows(ChatTemplateException.class, () -> ChatJinja.compile("{{ 'never closed", "quote.jinja"));
        assertEquals("quote.jinja: unterminated string at line 1", e.getMessage());
    }

    @Test
    void contentIsNeverRenderedAsATemplate() {
        String out = ChatJinja.compile("{{ messages[0].content }}", "t").render(Map.of("messages", List.of(message("user", "{{ 7 * 6 }}"))));
        assertEquals("{{ 7 * 6 }}", out);
    }

    private static int indexOf(String name) {
        for (int i = 0; i < cases.size(); i++) if (cases.get(i).name().equals(name)) return i;
        throw new AssertionError("no case " + name);
    }

    private static String render(Case c) {
        Map<String, Object> variables = new HashMap<>();
        c.spec().path("special_tokens").fields().forEachRemaining(e -> variables.put(e.getKey(), e.getValue().asText()));
        c.spec().path("kwargs").fields().forEachRemaining(e -> variables.put(e.getKey(), PythonValues.fromJson(e.getValue())));
        variables.put("messages", PythonValues.fromJson(c.spec().get("messages")));
        variables.put("tools", PythonValues.fromJson(c.spec().get("tools")));
        variables.put("documents", null);
        variables.put("add_generation_prompt", c.spec().get("add_generation_prompt").asBoolean());
        return ChatJinja.compile(c.template(), c.name()).render(variables);
    }

    private static String firstDifference(String expected, String actual) {
        int i = 0;
        while (i < expected.length() && i < actual.length() && expected.charAt(i) == actual.charAt(i)) i++;
        return "from character " + i + ": expected " + JsonSerde.MAPPER.valueToTree(expected.substring(i, Math.min(expected.length(), i + 60)))
                + ", got " + JsonSerde.MAPPER.valueToTree(actual.substring(i, Math.min(actual.length(), i + 60)));
    }

    private static Map<String, Object> message(String role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        return m;
    }

    private static Map<String, Object> withExtra(Map<String, Object> message, String key, Object value) {
        Map<String, Object> m = new LinkedHashMap<>(message);
        m.put(key, value);
        return m;
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }
}
