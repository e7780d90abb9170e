package millrace.web;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.IntConsumer;
import millrace.model.Gpt;
import millrace.model.Sampler;
import millrace.tokenizer.TextTokenizer;
import millrace.train.CheckpointStore;
import millrace.train.GptTrainer;

/**
 * Generates text from a checkpoint directory, keeping the last loaded model until a newer checkpoint is asked for.
 * Thread-safe: one generation at a time.
 */
public final class Generator implements AutoCloseable {
    /** A generated answer. */
    public record Answer(String prompt, String text, int promptTokens, int newTokens, long checkpointStep,
            double seconds) {}

    private final NDManager root = GptTrainer.newRootManager();
    private Path loadedFrom;
    private Gpt model;
    private CheckpointStore.Meta meta;
    private TextTokenizer tokenizer;

    public synchronized Answer generate(Path checkpoint, String prompt, Sampler.Settings settings, IntConsumer onToken)
            throws IOException {
        long started = System.nanoTime();
        if (!checkpoint.equals(loadedFrom)) {
            Gpt next = CheckpointStore.loadModel(checkpoint, root);
            if (model != null) model.close();
            model = next;
            meta = CheckpointStore.readMeta(checkpoint);
            tokenizer = CheckpointStore.loadTokenizer(checkpoint);
            loadedFrom = checkpoint;
        }
        int[] promptIds = tokenizer.encode(prompt);
        if (promptIds.length == 0) promptIds = new int[] {tokenizer.endOfText()};
        int[] all = Sampler.generate(model, promptIds, settings, tokenizer.endOfText(), onToken);
        int[] fresh = java.util.Arrays.copyOfRange(all, promptIds.length, all.length);
        return new Answer(prompt, tokenizer.decode(fresh), promptIds.length, fresh.length, meta.step(),
                (System.nanoTime() - started) / 1e9);
    }

    /**
     * An {@code onToken} for {@link #generate} that hands {@code out} the new text of each token as soon as it is
     * whole: byte-level tokens can end inside a UTF-8 character, whose bytes then wait for the next token.
     */
    public IntConsumer textDeltas(java.util.function.Consumer<String> out) {
        java.util.List<Integer> ids = new java.util.ArrayList<>();
        int[] emitted = {0};
        return id -> {
            if (id == tokenizer.endOfText()) return;
            ids.add(id);
            String text = tokenizer.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            if (text.endsWith("\uFFFD") || text.length() <= emitted[0]) return;
            out.accept(text.substring(emitted[0]));
            emitted[0] = text.length();
        };
    }

    @Override
    public synchronized void close() {
        if (model != null) model.close();
        root.close();
    }
}
