package millrace.web;

import millrace.model.CheckpointFormat;
import millrace.model.CheckpointReaders;
import millrace.model.DecodeBatch;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import millrace.model.LanguageModel;
import millrace.model.Sampler;
import millrace.sft.PromptFormat;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.TextTokenizer;

/**
 * A checkpoint's model and tokenizer, loaded once, that answers prompts: one answer, or several sampled as one batch
 * (the two answers of a comparison), at once or in a batch shared with other requests. Text reaches the caller as it
 * is generated, a piece per token once its characters are whole. Thread-safe.
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
    private final LanguageModel model;
    private final CheckpointFormat.Meta meta;
    private final ByteLevelBpe tokenizer;
    private final PromptFormat format;
    /** The web role's batch, and the requests in it (see {@link #start}). */
    private DecodeBatch shared;
    private final Map<DecodeBatch.Request, Decoding> running = new IdentityHashMap<>();

    private Generator(Path checkpoint, NDManager root, LanguageModel model, CheckpointFormat.Meta meta, ByteLevelBpe tokenizer,
            PromptFormat format) {
        this.checkpoint = checkpoint;
        this.root = root;
        this.model = model;
        this.meta = meta;
        this.tokenizer = tokenizer;
        this.format = format;
    }

    /** Loads a checkpoint directory (weights, configuration and tokenizer) into a manager of its own. */
    public static Generator load(Path checkpoint) throws IOException {
        CheckpointFormat.requireCheckpoint(checkpoint);
        NDManager root = NDManager.newBaseManager(ai.djl.Device.cpu(), "PyTorch");
        // held for the whole load: pruning must not delete the tokenizer under us after the weights are read
        try (CheckpointReaders.Reading reading = CheckpointReaders.open(checkpoint)) {
            CheckpointFormat.Meta meta = CheckpointFormat.readMeta(checkpoint);
            ByteLevelBpe tokenizer = CheckpointFormat.loadTokenizer(checkpoint);
            // a chat model answers in its own chat template, and stops at any of its end-of-turn and end-of-sequence ids
            return new Generator(checkpoint, root, CheckpointFormat.loadModel(checkpoint, root), meta, tokenizer,
                    PromptFormat.of(checkpoint));
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
        Decoding d = new Decoding(prompt, chat);
        d.finish(Sampler.generate(model, d.promptIds, seeds, settings, d.stop, d.textOut(seeds.length, onText), cancelled));
        return d.answers();
    }

    /**
     * A request's answers: decoded at once ({@link #generate}), or in this generator's shared batch among other
     * requests' ({@link #start}, {@link #step}), the web role's continuous batching.
     */
    public final class Decoding {
        private final String prompt;
        private final int[] promptIds;
        private final int[] stop;
        private final long started = System.nanoTime();
        private DecodeBatch.Request request;
        /** Each answer's text as it streams. */
        private final List<TextDeltas> deltas = new ArrayList<>();
        private int[][] fresh;
        private double seconds;

        private Decoding(String prompt, boolean chat) {
            if (chat && !format.chat()) throw new NotChat();
            this.prompt = prompt;
            this.promptIds = chat ? format.prompt(prompt) : PromptFormat.plainPrompt(tokenizer, prompt);
            this.stop = chat ? format.stopTokens() : PromptFormat.plainStopTokens(tokenizer);
        }

        private Sampler.TokenListener textOut(int answers, BiConsumer<Integer, String> onText) {
            for (int r = 0; r < answers; r++) {
                int row = r;
                deltas.add(new TextDeltas(tokenizer, stop, piece -> onText.accept(row, piece)));
            }
            return (row, token) -> deltas.get(row).accept(token);
        }

        private void finish(int[][] tokens) {
            deltas.forEach(TextDeltas::end); // what waited for a character's last bytes, now that none will come
            fresh = tokens;
            seconds = (System.nanoTime() - started) / 1e9;
        }

        /** Whether every answer has ended. */
        public boolean done() {
            return fresh != null;
        }

        /** Whether it stopped because its client went away. */
        public boolean cancelled() {
            return request != null && request.cancelled();
        }

        /** The answers, once {@link #done}. */
        public List<Answer> answers() {
            if (fresh == null) throw new IllegalStateException("still decoding");
            List<Answer> answers = new ArrayList<>();
            for (int[] row : fresh) {
                boolean finished = row.length > 0 && PromptFormat.contains(stop, row[row.length - 1]);
                int[] text = finished ? Arrays.copyOf(row, row.length - 1) : row;
                answers.add(new Answer(prompt, TextDeltas.whole(tokenizer.decode(text)), promptIds.length, row.length, finished,
                        meta.step(), seconds));
            }
            return answers;
        }
    }

    /**
     * Starts one answer per seed to {@code prompt} in the shared batch (as {@link #generate} would, but without
     * waiting): the prompt runs now and each answer's first token is chosen; {@link #step} makes the rest. Call from
     * one thread only, the one that calls {@link #step}.
     */
    public synchronized Decoding start(String prompt, long[] seeds, Sampler.Settings settings, boolean chat,
            BiConsumer<Integer, String> onText, BooleanSupplier cancelled) {
        Decoding d = new Decoding(prompt, chat);
        if (shared == null) shared = new DecodeBatch(model);
        d.request = shared.add(d.promptIds, seeds, settings, d.stop, d.textOut(seeds.length, onText), cancelled);
        if (d.request.done()) d.finish(d.request.answers());
        else running.put(d.request, d);
        return d;
    }

    /** One token for every answer in the shared batch; returns the requests that ended (and left it). */
    public synchronized List<Decoding> step() {
        List<Decoding> ended = new ArrayList<>();
        if (shared == null) throw new IllegalStateException("no batch: the model was closed or its batch dropped");
        for (DecodeBatch.Request request : shared.step()) {
            Decoding d = running.remove(request);
            d.finish(request.answers());
            ended.add(d);
        }
        return ended;
    }

    /** Answers in the shared batch. */
    public synchronized int batchRows() {
        return shared == null ? 0 : shared.rows();
    }

    /** After a failure in {@link #start} or {@link #step}: drops the shared batch and every request in it. */
    public synchronized void abandonBatch() {
        if (shared != null) shared.close();
        shared = null;
        running.clear();
    }

    /**
     * Turns one row's tokens into text pieces as soon as they are whole: byte-level tokens can end inside a UTF-8
     * character, whose bytes then wait for the next token. A stop token adds nothing. When the answer ends, what is
     * left goes out without a character cut short at the end (an answer cut at its token limit), as the answer's text
     * has it: the pieces add up to the answer.
     */
    private static final class TextDeltas {
        private final TextTokenizer tokenizer;
        private final int[] stop;
        private final Consumer<String> out;
        private final List<Integer> ids = new ArrayList<>();
        private int emitted;

        TextDeltas(TextTokenizer tokenizer, int[] stop, Consumer<String> out) {
            this.tokenizer = tokenizer;
            this.stop = stop;
            this.out = out;
        }

        void accept(int id) {
            if (PromptFormat.contains(stop, id)) return;
            ids.add(id);
            String text = tokenizer.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            if (text.endsWith("\uFFFD") || text.length() <= emitted) return;
            out.accept(text.substring(emitted));
            emitted = text.length();
        }

        void end() {
            String text = whole(tokenizer.decode(ids.stream().mapToInt(Integer::intValue).toArray()));
            if (text.length() > emitted) out.accept(text.substring(emitted));
            emitted = text.length();
        }

        /** {@code text} without the replacement characters a UTF-8 sequence cut short at its end decodes to. */
        static String whole(String text) {
            int end = text.length();
            while (end > 0 && text.charAt(end - 1) == '\uFFFD') end--;
            return text.substring(0, end);
        }
    }

    @Override
    public synchronized void close() {
        abandonBatch();
        model.close();
        root.close();
    }
}
