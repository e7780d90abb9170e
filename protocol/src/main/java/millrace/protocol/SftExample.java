package millrace.protocol;

import java.util.List;

/**
 * A supervised fine-tuning example on {@code millrace.sft} (key: its id): a conversation whose assistant turns the
 * model learns to give.
 *
 * @param id the example's id (stable: the same example again is the same id)
 * @param messages the turns, at least one of them the assistant's
 * @param source where it came from (a file and line, a dataset name), for reports
 */
public record SftExample(String id, List<ChatMessage> messages, String source) {
    public SftExample {
        Check.text("id", id);
        messages = List.copyOf(Check.notEmpty("messages", messages));
        if (messages.stream().noneMatch(m -> m.role().equals("assistant"))) {
            throw new InvalidPayloadException("messages", "no assistant turn to learn from");
        }
        if (messages.get(0).role().equals("assistant")) {
            throw new InvalidPayloadException("messages", "the conversation starts with the assistant: nothing to answer");
        }
        source = source == null ? "" : source;
    }
}
