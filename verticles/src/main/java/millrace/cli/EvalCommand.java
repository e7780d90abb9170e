package millrace.cli;

import millrace.model.CheckpointFormat;
import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import millrace.model.LanguageModel;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.ByteLevelBpe;
import millrace.train.Evaluator;
import millrace.train.ModelTrainer;
import millrace.sft.SftData;
import millrace.sft.SftEval;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Perplexity and last-word accuracy of a checkpoint on held-out text. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a checkpoint on held-out text (perplexity, last-word accuracy per line), or on held-out "
                + "conversations with --sft (answer loss, end-of-turn rate, exact match, token F1).")
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, description = "A checkpoint directory.")
    Path checkpoint;

    @Option(names = "--text", description = "UTF-8 text the model has not trained on.")
    Path text;

    @Option(names = "--sft", description = "Held-out conversations (JSON Lines, as ./millrace sft reads): answer loss and perplexity, end-of-turn rate, exact match and token F1 of greedy answers.")
    Path sft;

    @Option(names = "--max-tokens", defaultValue = "48", description = "With --sft: new tokens per answer at most (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--samples", defaultValue = "3", description = "With --sft: answers to print (default: ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--lines", defaultValue = "500", description = "Lines for the last-word accuracy (default: ${DEFAULT-VALUE}).")
    int lines;

    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        CheckpointFormat.requireCheckpoint(checkpoint);
        if ((text == null) == (sft == null)) throw new IllegalArgumentException("give --text FILE or --sft FILE");
        if (sft != null) return evaluateSft();
        if (!Files.isRegularFile(text)) throw new IllegalArgumentException("no such file: " + text);
        try (NDManager root = ModelTrainer.newRootManager()) {
            LanguageModel gpt = CheckpointFormat.loadModel(checkpoint, root);
            ByteLevelBpe tokenizer = CheckpointFormat.loadTokenizer(checkpoint);
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

    private int evaluateSft() throws Exception {
        if (!Files.isRegularFile(sft)) throw new IllegalArgumentException("no such file: " + sft);
        SftData.Read read = SftData.read(sft);
        SftEval.Result r = SftEval.evaluate(checkpoint, read.examples(), maxTokens, samples);
        if (json) {
            com.fasterxml.jackson.databind.node.ObjectNode out = JsonSerde.MAPPER.valueToTree(r);
            out.put("badLines", read.bad().size());
            // a figure with nothing to measure (no example answered) is null: NaN is not JSON
            for (var f : List.copyOf(out.properties())) if (f.getValue().isDouble() && Double.isNaN(f.getValue().asDouble())) out.putNull(f.getKey());
            System.out.println(out);
        } else {
            System.out.printf("%d held-out examples (%d too long, %d bad lines): answer loss %.4f, perplexity %.2f; "
                    + "of %d answered: end of turn %.1f%%, exact match %.1f%%, token F1 %.3f%n", r.examples(), r.tooLong(),
                    read.bad().size(), r.answerLoss(), r.answerPerplexity(), r.answered(), 100 * r.endOfTurnRate(),
                    100 * r.exactMatch(), r.tokenF1());
            for (var s : r.samples()) {
                System.out.printf("  Q: %s%n  A: %s%s%n  reference: %s%n", s.get("prompt"), s.get("answer"),
                        "true".equals(s.get("ended")) ? "" : " [no end of turn]", s.get("reference"));
            }
        }
        return 0;
    }
}
