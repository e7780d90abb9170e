package millrace.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import millrace.model.BaseModel;
import millrace.model.CheckpointFormat;
import millrace.train.CheckpointStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** A Hugging Face model directory as the starting checkpoint of a model: the train role continues from it. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Turn a Hugging Face model directory (GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM, "
                + "Qwen3ForCausalLM: config.json, safetensors weights in fp32, fp16 or bf16, tokenizer.json) into a step-0 "
                + "checkpoint under --data-dir, so that a trainer started there with --tokenizer DIR/tokenizer.json "
                + "continues training it; its tokenizer, chat template and generation settings go with it.")
final class ImportCommand implements Callable<Integer> {
    @Option(names = "--hf", required = true, description = "A Hugging Face model directory.")
    Path hf;

    @Option(names = "--data-dir", defaultValue = "millrace-data", description = "Data directory (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--model-name", defaultValue = "millrace", description = "Model name (default: ${DEFAULT-VALUE}).")
    String modelName;

    @Override
    public Integer call() throws Exception {
        BaseModel base = BaseModel.of(hf);
        CheckpointStore store = new CheckpointStore(dataDir.resolve("checkpoints"), modelName, 3);
        if (store.latest().isPresent()) {
            throw new IllegalArgumentException("model '" + modelName + "' already has checkpoints in " + store.dir()
                    + ": import under another --model-name (or into another --data-dir)");
        }
        Path dir = store.importUnlessTrained(base);
        System.out.printf("imported %s as %s (%s, tokenizer %s%s); start the trainer with --data-dir %s --model-name %s "
                + "--tokenizer %s to continue training it%n", hf, dir, base.config().architecture().getClass().getSimpleName(),
                base.tokenizer().id(), base.chat() ? ", a chat model" : "", dataDir, modelName,
                hf.resolve(CheckpointFormat.TOKENIZER));
        return 0;
    }
}
