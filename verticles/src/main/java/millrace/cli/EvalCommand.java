package millrace.cli;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import millrace.model.Gpt;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.ByteLevelBpe;
import millrace.train.CheckpointStore;
import millrace.train.Evaluator;
import millrace.train.GptTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Perplexity and last-word accuracy of a checkpoint on held-out text. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a checkpoint on held-out text: perplexity, and last-word (cloze) accuracy per line.")
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, description = "A checkpoint directory.")
    Path checkpoint;

    @Option(names = "--text", required = true, description = "UTF-8 text the model has not trained on.")
    Path text;

    @Option(names = "--lines", defaultValue = "500", description = "Lines for the last-word accuracy (default: ${DEFAULT-VALUE}).")
    int lines;

    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        CheckpointStore.requireCheckpoint(checkpoint);
        if (!Files.isRegularFile(text)) throw new IllegalArgumentException("no such file: " + text);
        try (NDManager root = GptTrainer.newRootManager()) {
            Gpt gpt = CheckpointStore.loadModel(checkpoint, root);
            ByteLevelBpe tokenizer = CheckpointStore.loadTokenizer(checkpoint);
            Evaluator.Result r = Evaluator.evaluate(gpt, tokenizer, Files.readString(text), lines);
            if (json) {
                System.out.println(JsonSerde.MAPPER.writeValueAsString(r));
            } else {
                System.out.printf("%d tokens: loss %.4f, perplexity %.2f; last word right on %.1f%% of %d lines%n",
                        r.tokens(), r.loss(), r.perplexity(), 100 * r.lastWordAccuracy(), r.lines());
            }
        }
        return 0;
    }
}
