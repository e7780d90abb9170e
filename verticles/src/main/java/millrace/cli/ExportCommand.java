package millrace.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import millrace.model.BaseModel;
import millrace.model.CheckpointFormat;
import millrace.model.HuggingFace;
import millrace.model.LanguageModel;
import millrace.tokenizer.ByteLevelBpe;
import millrace.train.ModelTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** A checkpoint as a Hugging Face model directory of its architecture. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write a checkpoint as a Hugging Face model directory (config.json, model.safetensors, the tokenizer's "
                + "files) that transformers loads as the checkpoint's architecture: GPT2LMHeadModel, LlamaForCausalLM, "
                + "Qwen2ForCausalLM or Qwen3ForCausalLM.")
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
        ByteLevelBpe tokenizer = CheckpointFormat.loadTokenizer(checkpoint);
        try (var manager = ModelTrainer.newRootManager(); LanguageModel model = CheckpointFormat.loadModel(checkpoint, manager)) {
            // a chat model's tokenizer_config names its end of turn as eos_token: transformers' generate stops there
            HuggingFace.export(model, CheckpointFormat.TokenizerFiles.of(checkpoint), BaseModel.specialToken(checkpoint, tokenizer, "bos_token").orElse(null),
                    BaseModel.specialToken(checkpoint, tokenizer, "eos_token").orElse(null), out);
            System.out.printf("wrote %s (%s, %d layers, width %d, context %d, vocabulary %d, %,d parameters)%n", out,
                    model.config().architecture().getClass().getSimpleName(), model.config().layers(), model.config().width(),
                    model.config().contextLength(), model.config().vocabSize(), model.parameterCount());
        }
        return 0;
    }
}
