package millrace.cli;

import millrace.model.CheckpointFormat;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import millrace.model.Gpt;
import millrace.model.HuggingFaceGpt2;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** A checkpoint as a Hugging Face GPT-2 directory. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write a checkpoint as a Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer.json) "
                + "that transformers loads as GPT2LMHeadModel.")
final class ExportCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, description = "A checkpoint directory (…/checkpoints/<model>/step-…).")
    Path checkpoint;

    @Option(names = "--format", defaultValue = "hf", description = "Only hf (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--out", required = true, description = "The directory to write.")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (!format.equals("hf")) throw new IllegalArgumentException("unknown format " + format + " (hf)");
        CheckpointFormat.requireCheckpoint(checkpoint);
        try (NDManager manager = millrace.train.GptTrainer.newRootManager();
             Gpt gpt = CheckpointFormat.loadModel(checkpoint, manager)) {
            HuggingFaceGpt2.export(gpt, CheckpointFormat.loadTokenizer(checkpoint), CheckpointFormat.isChatModel(checkpoint), out);
            System.out.printf("wrote %s (GPT-2: %d layers, %d heads, width %d, context %d, vocabulary %d, %d parameters)%n",
                    out, gpt.config().nLayer(), gpt.config().nHead(), gpt.config().nEmbd(), gpt.config().blockSize(),
                    gpt.config().vocabSize(), gpt.parameterCount());
        }
        return 0;
    }
}
