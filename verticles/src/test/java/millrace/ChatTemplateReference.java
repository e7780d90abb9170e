package millrace;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import millrace.protocol.JsonSerde;

/**
 * Chat templates as transformers renders them ({@code bench/chat_template_reference.py}), the reference of Millrace's
 * renderer: a test class collects its cases and renders them all in one Python process. Each answer is
 * {@code {"text": ...}} (and {@code "ids"} when asked), or {@code {"error": "TemplateError: ..."}}.
 */
public final class ChatTemplateReference {
    private final ArrayNode cases = JsonSerde.MAPPER.createArrayNode();

    /** A real-world template of the test resources ({@code millrace/tokenizer/chat-templates/NAME.jinja}). */
    public static String template(String name) {
        try (java.io.InputStream in = ChatTemplateReference.class.getResourceAsStream("/millrace/tokenizer/chat-templates/" + name + ".jinja")) {
            if (in == null) throw new AssertionError("no test template " + name);
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A case rendered with a Hugging Face directory's tokenizer (its own template where {@code template} is null). */
    public ObjectNode withTokenizer(Path dir, String template, List<? extends Map<String, ?>> messages, boolean addGenerationPrompt) {
        ObjectNode c = add(template, messages, addGenerationPrompt);
        c.put("tokenizer", dir.toString());
        return c;
    }

    /** A case rendered by transformers' render_jinja_template alone, with these special tokens. */
    public ObjectNode withSpecialTokens(Map<String, String> specialTokens, String template, List<? extends Map<String, ?>> messages,
            boolean addGenerationPrompt) {
        ObjectNode c = add(template, messages, addGenerationPrompt);
        c.set("special_tokens", JsonSerde.MAPPER.valueToTree(specialTokens));
        return c;
    }

    private ObjectNode add(String template, List<? extends Map<String, ?>> messages, boolean addGenerationPrompt) {
        ObjectNode c = cases.addObject();
        if (template != null) c.put("template", template);
        c.set("messages", JsonSerde.MAPPER.valueToTree(messages));
        c.put("add_generation_prompt", addGenerationPrompt);
        return c;
    }

    /** Renders every case added so far, in order. */
    public List<JsonNode> render() throws IOException, InterruptedException {
        Path file = Files.createTempFile("chat-template-cases", ".json");
        try {
            JsonSerde.MAPPER.writeValue(file.toFile(), cases);
            JsonNode answers = JsonSerde.MAPPER.readTree(PythonReference.run(PythonReference.script("chat_template_reference.py"), file.toString()));
            List<JsonNode> out = new ArrayList<>();
            answers.forEach(out::add);
            if (out.size() != cases.size()) throw new AssertionError("the reference answered " + out.size() + " of " + cases.size() + " cases");
            return out;
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
