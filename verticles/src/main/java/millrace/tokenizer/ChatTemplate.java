package millrace.tokenizer;

import java.util.ArrayList;
import java.util.List;
import millrace.protocol.ChatMessage;

/**
 * ChatML, the chat format of Millrace's assistants: every turn is {@code <|im_start|>role\ncontent<|im_end|>\n}, and
 * a model asked to answer is given {@code <|im_start|>assistant\n} and stops at {@code <|im_end|>}, its end-of-turn
 * token. The two markers are special tokens added to the byte-level BPE ({@link #withMarkers}). {@link #JINJA} is
 * the same template as Hugging Face writes it into {@code tokenizer_config.json}, so {@code transformers}' {@code
 * apply_chat_template} renders the same prompt.
 */
public final class ChatTemplate {
    public static final String START = "<|im_start|>";
    public static final String END = "<|im_end|>";
    public static final String JINJA = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
            + "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
            + "{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /** A rendered conversation: its token ids, and for each next-token target whether it is trained on. */
    public record Rendered(int[] ids, boolean[] trained) {}

    private final ByteLevelBpe tokenizer;
    private final int start;
    private final int end;

    public ChatTemplate(ByteLevelBpe tokenizer) {
        if (!supports(tokenizer)) {
            throw new IllegalArgumentException("the tokenizer has no chat markers " + START + " and " + END);
        }
        this.tokenizer = tokenizer;
        this.start = tokenizer.specials().get(START);
        this.end = tokenizer.specials().get(END);
    }

    /** Whether a tokenizer has the chat markers (a chat model's). */
    public static boolean supports(ByteLevelBpe tokenizer) {
        return tokenizer.specials().containsKey(START) && tokenizer.specials().containsKey(END);
    }

    /** The tokenizer with the chat markers added (those it lacks) after its last id. */
    public static ByteLevelBpe withMarkers(ByteLevelBpe tokenizer) {
        return tokenizer.withSpecials(List.of(START, END));
    }

    /**
     * The tokenizers whose token streams a model with {@code tokenizer} reads as its own text: itself, and the one it
     * was before the chat markers were added (r50k's shards, say, for a model fine-tuned from an r50k one) — the
     * markers come after every other id, so text encodes the same under both.
     */
    public static java.util.Set<String> textTokenizerIds(ByteLevelBpe tokenizer) {
        return java.util.stream.Stream.of(tokenizer.id(), tokenizer.withoutSpecials(List.of(START, END)).id())
                .collect(java.util.stream.Collectors.toUnmodifiableSet());
    }

    public int endOfTurn() {
        return end;
    }

    /** The conversation as text, exactly as {@link #JINJA} renders it. */
    public static String text(List<ChatMessage> messages, boolean addGenerationPrompt) {
        StringBuilder out = new StringBuilder();
        for (ChatMessage m : messages) out.append(START).append(m.role()).append('\n').append(m.content()).append(END).append('\n');
        if (addGenerationPrompt) out.append(START).append("assistant\n");
        return out.toString();
    }

    /**
     * The conversation as token ids — the text between markers encoded as one piece, as Hugging Face's tokenizer
     * does — and which targets are trained: every assistant turn's content and its {@code <|im_end|>}, nothing else.
     */
    public Rendered render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Integer> ids = new ArrayList<>();
        List<Boolean> trainedToken = new ArrayList<>(); // per token: does the model learn to produce it
        for (ChatMessage m : messages) {
            boolean assistant = m.role().equals("assistant");
            ids.add(start);
            trainedToken.add(false);
            int[] header = tokenizer.encode(m.role() + "\n");
            int[] piece = tokenizer.encode(m.role() + "\n" + m.content());
            int contentFrom = sharedPrefix(header, piece);
            for (int i = 0; i < piece.length; i++) {
                ids.add(piece[i]);
                trainedToken.add(assistant && i >= contentFrom);
            }
            ids.add(end);
            trainedToken.add(assistant);
            for (int t : tokenizer.encode("\n")) {
                ids.add(t);
                trainedToken.add(false);
            }
        }
        if (addGenerationPrompt) {
            ids.add(start);
            trainedToken.add(false);
            for (int t : tokenizer.encode("assistant\n")) {
                ids.add(t);
                trainedToken.add(false);
            }
        }
        int[] out = ids.stream().mapToInt(Integer::intValue).toArray();
        boolean[] trained = new boolean[Math.max(0, out.length - 1)];
        for (int j = 0; j + 1 < out.length; j++) trained[j] = trainedToken.get(j + 1); // target j is token j+1
        return new Rendered(out, trained);
    }

    /**
     * How many leading tokens of {@code piece} are the role header's: the pre-tokenizer splits at the newline, so the
     * header encodes the same alone and joined with the content (where it would not, the content starts where they
     * part).
     */
    private static int sharedPrefix(int[] header, int[] piece) {
        int n = 0;
        while (n < header.length && n < piece.length && header[n] == piece[n]) n++;
        return n;
    }
}
