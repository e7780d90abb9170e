package millrace.sft;

import millrace.model.CheckpointFormat;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import millrace.protocol.ChatMessage;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;

/**
 * How a model is asked and how it answers: plain continuation (the prompt's tokens, the answer's, then end of text),
 * or, for a chat model (fine-tuned on conversations), a user turn and an assistant turn in the model's own chat
 * template, the answer ending at a token that ends a turn. Generation, the preference losses and fine-tuning all go
 * through it, so an answer is scored in the format it was produced in.
 */
public final class PromptFormat {
    private final ByteLevelBpe tokenizer;
    private final ChatTemplate chat;

    private PromptFormat(ByteLevelBpe tokenizer, ChatTemplate chat) {
        this.tokenizer = tokenizer;
        this.chat = chat;
    }

    /** The format of a model with this tokenizer: {@code chat} for a Millrace chat model (ChatML; the tokenizer has the markers). */
    public static PromptFormat of(ByteLevelBpe tokenizer, boolean chat) {
        return new PromptFormat(tokenizer, chat ? ChatTemplate.chatMl(tokenizer) : null);
    }

    /** The format of a model with this tokenizer and chat template (null: not a chat model, plain continuation). */
    public static PromptFormat of(ByteLevelBpe tokenizer, ChatTemplate chat) {
        return new PromptFormat(tokenizer, chat);
    }

    /**
     * The format of a checkpoint: a chat model ({@link CheckpointFormat#isChatModel}) in the template its
     * {@code tokenizer_config.json} names, any other plain.
     */
    public static PromptFormat of(Path checkpoint) throws IOException {
        ByteLevelBpe tokenizer = CheckpointFormat.loadTokenizer(checkpoint);
        return new PromptFormat(tokenizer, ChatTemplate.read(checkpoint, tokenizer).orElse(null));
    }

    public boolean chat() {
        return chat != null;
    }

    public ChatTemplate template() {
        if (chat == null) throw new IllegalStateException("not a chat model: it was not fine-tuned on conversations");
        return chat;
    }

    /**
     * The token that ends an answer: the end of turn for a chat model, the end of text otherwise. A chat model may
     * end with others too ({@link #stopTokens}): generation should stop at any of them.
     */
    public int stopToken() {
        return chat != null ? chat.endOfTurn() : tokenizer.endOfText();
    }

    /** Every token that ends an answer, ascending: a chat model's end of turn and end-of-sequence ids, or the end of text. */
    public int[] stopTokens() {
        return chat != null ? chat.stopTokens() : plainStopTokens(tokenizer);
    }

    /** The tokens that end a continuation of plain text: the end of text. */
    public static int[] plainStopTokens(millrace.tokenizer.TextTokenizer tokenizer) {
        return new int[] {tokenizer.endOfText()};
    }

    /** Whether {@code token} ends an answer. */
    public boolean isStop(int token) {
        return contains(stopTokens(), token);
    }

    /** Whether {@code tokens} holds {@code token}. */
    public static boolean contains(int[] tokens, int token) {
        for (int t : tokens) if (t == token) return true;
        return false;
    }

    /** What the model continues from to answer {@code prompt}. */
    public int[] prompt(String prompt) {
        if (chat != null) return chat.render(List.of(new ChatMessage("user", prompt)), true).ids();
        return plainPrompt(tokenizer, prompt);
    }

    /**
     * A prompt as text to continue, as a document begins: after the tokenizer's begin-of-text token where it has one
     * (Llama 3.1's), else an empty one as the end of text, which starts a document.
     */
    public static int[] plainPrompt(millrace.tokenizer.TextTokenizer tokenizer, String prompt) {
        int[] document = tokenizer.document(prompt);
        int[] ids = java.util.Arrays.copyOf(document, document.length - 1); // not the end of text
        return ids.length == 0 ? new int[] {tokenizer.endOfText()} : ids;
    }

    /**
     * {@code answer} to {@code prompt}, scored on the answer and its end; cut to the model's context: the oldest
     * context goes first (at least one token stays, so the answer is scored given something), and an answer longer than
     * the whole context loses its end.
     */
    public ScoredSequence answer(String prompt, String answer, int blockSize) {
        int[] context;
        int[] reply;
        if (chat != null) {
            ChatTemplate.Rendered r = chat.render(List.of(new ChatMessage("user", prompt), new ChatMessage("assistant", answer)), false);
            // what the template writes after the answer's end (ChatML's newline, a next header) is not the answer's
            int last = r.ids().length - (r.trained()[r.trained().length - 1] ? 0 : trailing(r));
            int from = firstTrained(r) + 1;
            context = Arrays.copyOf(r.ids(), from);
            reply = Arrays.copyOfRange(r.ids(), from, last);
        } else {
            context = prompt(prompt);
            int[] words = tokenizer.encode(answer);
            reply = Arrays.copyOf(words, words.length + 1);
            reply[words.length] = tokenizer.endOfText();
        }
        int room = blockSize + 1;
        if (reply.length >= room) {
            context = new int[] {context[context.length - 1]};
            reply = Arrays.copyOf(reply, room - 1);
        } else if (context.length + reply.length > room) {
            context = Arrays.copyOfRange(context, context.length - (room - reply.length), context.length);
        }
        int[] ids = Arrays.copyOf(context, context.length + reply.length);
        System.arraycopy(reply, 0, ids, context.length, reply.length);
        boolean[] scored = new boolean[ids.length - 1];
        for (int j = context.length - 1; j < scored.length; j++) scored[j] = true;
        return new ScoredSequence(ids, scored);
    }

    /** A whole conversation, scored on its assistant turns; null when it does not fit the model's context. */
    public ScoredSequence conversation(List<ChatMessage> messages, int blockSize) {
        ChatTemplate.Rendered r = template().render(messages, false);
        int[] ids = r.ids();
        boolean[] trained = r.trained();
        // what follows the last answer's end (ChatML's newline) predicts nothing the model needs: leave it off
        while (ids.length > 1 && !trained[trained.length - 1]) {
            ids = Arrays.copyOf(ids, ids.length - 1);
            trained = Arrays.copyOf(trained, trained.length - 1);
        }
        if (ids.length > blockSize + 1) return null;
        return new ScoredSequence(ids, trained);
    }

    private static int firstTrained(ChatTemplate.Rendered r) {
        for (int j = 0; j < r.trained().length; j++) if (r.trained()[j]) return j;
        return r.trained().length - 1;
    }

    private static int trailing(ChatTemplate.Rendered r) {
        int n = 0;
        for (int j = r.trained().length - 1; j >= 0 && !r.trained()[j]; j--) n++;
        return n;
    }
}
