package millrace.web;

import millrace.model.CheckpointFormat;
import millrace.model.CheckpointReaders;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import millrace.model.Gpt;
import millrace.model.Sampler;
import millrace.sft.PromptFormat;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.TextTokenizer;

/**
 * A checkpoint's model and tokenizer, loaded once, that answers prompts: one answer, or several sampled as one batch
 * (the two answers of a comparison). Text reaches the caller as it is generated, a piece per token once its characters
 * are whole. Thread-safe: one generation at a time.
 */
public final class Generator implements AutoCloseable {
    /**
     * A generated answer, without the end-of-text token; {@code finished} says whether the model ended it (rather than
     * the token limit or a cancellation).
     */
    public record Answer(String prompt, String text, int promptTokens, int newTokens, boolean finished,
            long checkpointStep, double seconds) {}

    private final Path checkpoint;
    private final NDManager root;
    private final Gpt model;
    private final CheckpointFormat.Meta meta;
    private final ByteLevelBpe tokenizer;
    private final PromptFormat format;

    private Generator(Path checkpoint, NDManager root, Gpt model, CheckpointFormat.Meta meta, ByteLevelBpe tokenizer,
            boolean chat) {
        this.checkpoint = checkpoint;
        this.root = root;
        this.model = model;
        this.meta = meta;
        this.tokenizer = tokenizer;
        this.format = PromptFormat.of(tokenizer, chat);
    }

    /** Loads a checkpoint directory (weights, configuration and tokenizer) into a manager of its own. */
    public static Generator load(Path checkpoint) throws IOException {
        CheckpointFormat.requireCheckpoint(checkpoint);
        NDManager root = NDManager.newBaseManager(ai.djl.Device.cpu(), "PyTorch");
        // held for the whole load: pruning must not delete the tokenizer under us after the weights are read
        try (CheckpointReaders.Reading reading = CheckpointReaders.open(checkpoint)) {
            CheckpointFormat.Meta meta = CheckpointFormat.readMeta(checkpoint);
            ByteLevelBpe tokenizer = CheckpointFormat.loadTokenizer(checkpoint);
            return new Generator(checkpoint, root, CheckpointFormat.loadModel(checkpoint, root), meta, tokenizer,
                    CheckpointFormat.isChatModel(checkpoint));
        } catch (IOException | RuntimeException e) {
            root.close();
            throw e;
        }
    }

    public Path checkpoint() {
        return checkpoint;
    }

    public CheckpointFormat.Meta meta() {
        return meta;
    }

    /** Asked to answer in turns, a model that is not a chat model. */
    public static final class NotChat extends IllegalArgumentException {
        NotChat() {
            super("not a chat model: it was not fine-tuned on conversations (make one with ./millrace sft)");
        }
    }

    /** Whether this is a chat model (fine-tuned on conversations): it can answer in turns. */
    public boolean chat() {
        return format.chat();
    }

    /** One answer; {@code onText} gets its text piece by piece. {@code chat}: as a chat turn (a chat model only). */
    public Answer generate(String prompt, Sampler.Settings settings, boolean chat, Consumer<String> onText) {
        return generate(prompt, new long[] {settings.seed()}, settings, chat, (row, piece) -> onText.accept(piece),
                () -> false).get(0);
    }

    /**
     * One answer per seed to the same prompt, decoded together as one batch; {@code onText} gets (answer, piece) as
     * the pieces come. Stops early when {@code cancelled} says so. {@code chat}: the prompt is a user's turn and each
     * answer the assistant's, ending at the end-of-turn token (a chat model only); otherwise a continuation of the
     * text, ending at the end of text.
     */
    public synchronized List<Answer> generate(String prompt, long[] seeds, Sampler.Settings settings, boolean chat,
            BiConsumer<Integer, String> onText, BooleanSupplier cancelled) {
        if (chat && !format.chat()) throw new NotChat();
        long started = System.nanoTime();
        int[] promptIds = chat ? format.prompt(prompt) : PromptFormat.plainPrompt(tokenizer, prompt);
        int stop = chat ? format.stopToken() : tokenizer.endOfText();
        List<TextDeltas> deltas = new ArrayList<>();
        for (int r = 0; r < seeds.length; r++) {
            int row = r;
            deltas.add(new TextDeltas(tokenizer, stop, piece -> onText.accept(row, piece)));
        }
        int[][] fresh = Sampler.generate(model, promptIds, seeds, settings, stop,
                (row, token) -> deltas.get(row).accept(token), cancelled);
        double seconds = (System.nanoTime() - started) / 1e9;
        List<Answer> answers = new ArrayList<>();
        for (int[] row : fresh) {
            boolean finished = row.length > 0 && row[row.length - 1] == stop;
            int[] text = finished ? Arrays.copyOf(row, row.length - 1) : row;
            answers.add(new Answer(prompt, tokenizer.decode(text), promptIds.length, row.length, finished, meta.step(),
                    seconds));
        }
        return answers;
    }

    /**
     * Turns one row's tokens into text pieces as soon as they are whole: byte-level tokens can end inside a UTF-8
     * character, whose bytes then wait for the next token. The stop token adds nothing.
     */
    private static final class TextDeltas {
        private final TextTokenizer tokenizer;
        private final int stop;
        private final Consumer<String> out;
        private final List<Integer> ids = new ArrayList<>();
        private int emitted;

        TextDeltas(TextTokenizer tokenizer, int stop, Consumer<String> out) {
            this.tokenizer = tokenizer;
            this.stop = stop;
            this.out = out;
        }

        void accept(int id) {
            if (id == stop) return;
            ids.add(id);
            String text = tokenizer.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            if (text.endsWith("\uFFFD") || text.length() <= emitted) return;
            out.accept(text.substring(emitted));
            emitted = text.length();
        }
    }

    @Override
    public synchronized void close() {
        model.close();
        root.close();
    }
}
