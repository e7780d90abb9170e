package millrace.sft;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import millrace.protocol.ChatMessage;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.SftExample;
import millrace.raters.RaterTokens;

/**
 * Fine-tuning examples from JSON Lines, in the shapes TRL's SFTTrainer reads: {@code {"prompt", "response"}} (or
 * {@code "completion"}) — a user turn and the assistant's answer — or {@code {"messages": [{"role", "content"},
 * ...]}}. A line that is none of them is reported with its number and skipped; none is dropped silently.
 */
public final class SftData {
    /** A line that was not an example, and why. */
    public record BadLine(int line, String reason) {}

    /** What a file holds. */
    public record Read(List<SftExample> examples, List<BadLine> bad) {}

    private SftData() {}

    public static Read read(Path file) throws IOException {
        List<SftExample> examples = new ArrayList<>();
        List<BadLine> bad = new ArrayList<>();
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try (BufferedReader in = new BufferedReader(new java.io.InputStreamReader(Files.newInputStream(file), decoder))) {
            int number = 0;
            String line;
            while (true) {
                try {
                    line = in.readLine();
                } catch (CharacterCodingException e) {
                    bad.add(new BadLine(number + 1, "not UTF-8"));
                    break; // the reader cannot resynchronise after a bad byte: the rest of the file is reported unread
                }
                if (line == null) break;
                number++;
                if (line.isBlank()) continue;
                try {
                    examples.add(parse(line, file.getFileName() + ":" + number));
                } catch (InvalidPayloadException e) {
                    bad.add(new BadLine(number, e.getMessage()));
                }
            }
        }
        return new Read(examples, bad);
    }

    /** One line as an example; its id is a hash of its turns, so the same example is the same id anywhere. */
    public static SftExample parse(String line, String source) {
        JsonNode n;
        try {
            n = JsonSerde.MAPPER.readTree(line);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new InvalidPayloadException("line", "malformed JSON: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) throw new InvalidPayloadException("line", "not a JSON object");
        List<ChatMessage> messages = new ArrayList<>();
        if (n.has("messages")) {
            if (!n.get("messages").isArray()) throw new InvalidPayloadException("messages", "must be an array");
            for (JsonNode m : n.get("messages")) {
                if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
                    throw new InvalidPayloadException("messages", "each turn needs a role and a content (strings)");
                }
                messages.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
            }
        } else {
            JsonNode answer = n.has("response") ? n.get("response") : n.get("completion");
            if (!n.path("prompt").isTextual() || answer == null || !answer.isTextual()) {
                throw new InvalidPayloadException("line", "needs \"prompt\" and \"response\" (or \"completion\") strings, or \"messages\"");
            }
            messages.add(new ChatMessage("user", n.get("prompt").asText()));
            messages.add(new ChatMessage("assistant", answer.asText()));
        }
        String id = "sft-" + RaterTokens.sha256(JsonSerde.MAPPER.valueToTree(messages).toString()).substring(0, 24);
        return new SftExample(id, messages, source);
    }
}
