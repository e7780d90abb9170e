package millrace.sft;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
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

    /** A line longer than this is not an example (a file with no newlines would otherwise fill the heap). */
    static final int MAX_LINE_BYTES = 1 << 20;

    /** Every line of a file: each decoded on its own, so a line that is not UTF-8 is reported and the next one read. */
    public static Read read(Path file) throws IOException {
        List<SftExample> examples = new ArrayList<>();
        List<BadLine> bad = new ArrayList<>();
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            int number = 0;
            boolean tooLong = false;
            int b;
            do {
                b = in.read();
                if (b != '\n' && b != -1) {
                    if (line.size() < MAX_LINE_BYTES) line.write(b);
                    else tooLong = true;
                    continue;
                }
                if (b == -1 && line.size() == 0 && !tooLong) break;
                number++;
                if (tooLong) {
                    bad.add(new BadLine(number, "longer than " + MAX_LINE_BYTES + " bytes"));
                } else {
                    try {
                        String text = STRICT_UTF8.get().decode(ByteBuffer.wrap(line.toByteArray())).toString();
                        if (!text.isBlank()) examples.add(parse(text, file.getFileName() + ":" + number));
                    } catch (CharacterCodingException e) {
                        bad.add(new BadLine(number, "not UTF-8"));
                    } catch (InvalidPayloadException e) {
                        bad.add(new BadLine(number, e.getMessage()));
                    }
                }
                line.reset();
                tooLong = false;
            } while (b != -1);
        }
        return new Read(examples, bad);
    }

    private static final ThreadLocal<CharsetDecoder> STRICT_UTF8 = ThreadLocal.withInitial(() -> StandardCharsets.UTF_8
            .newDecoder().onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT));

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
