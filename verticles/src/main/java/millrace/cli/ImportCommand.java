package millrace.cli;

import millrace.model.CheckpointFormat;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import millrace.model.Gpt;
import millrace.model.HuggingFaceGpt2;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Vocabularies;
import millrace.train.CheckpointStore;
import millrace.train.GptTrainer;
import millrace.train.TrainSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** A Hugging Face GPT-2 directory as the starting checkpoint of a model: the train role continues from it. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Turn a Hugging Face GPT-2 directory into a step-0 checkpoint under --data-dir, so that a trainer "
                + "started there (with the same --tokenizer file and architecture) continues training it.")
final class ImportCommand implements Callable<Integer> {
    @Option(names = "--hf", required = true, description = "A Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer.json).")
    Path hf;

    @Option(names = "--data-dir", defaultValue = "millrace-data", description = "Data directory (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--model-name", defaultValue = "millrace", description = "Model name (default: ${DEFAULT-VALUE}).")
    String modelName;

    @Override
    public Integer call() throws Exception {
        ByteLevelBpe tokenizer = Vocabularies.read(hf.resolve("tokenizer.json"));
        // a chat model stays one when its template is the ChatML Millrace renders; another template it would not follow
        java.util.Optional<String> template = Vocabularies.chatTemplate(hf.resolve("tokenizer_config.json"));
        boolean chat = template.isPresent() && template.get().equals(millrace.tokenizer.ChatTemplate.JINJA)
                && millrace.tokenizer.ChatTemplate.supports(tokenizer);
        if (template.isPresent() && !chat) {
            System.err.println("warning: " + hf + " has a chat template that is not ChatML as Millrace renders it: imported as a "
                    + "pretrained model (fine-tune it with ./millrace sft to chat)");
        }
        try (NDManager root = GptTrainer.newRootManager()) {
            Gpt gpt = HuggingFaceGpt2.load(hf, root);
            TrainSettings demo = TrainSettings.tinyDemo(hf.resolve("tokenizer.json").toString(), tokenizer.vocabSize(),
                    gpt.config().blockSize());
            TrainSettings settings = new TrainSettings(modelName, gpt.config(), demo.tokenizer(), demo.batchSize(),
                    demo.schedule(), demo.clipNorm(), demo.adam(), demo.seed(), demo.checkpointEverySeconds(),
                    demo.keepCheckpoints(), demo.evalEverySteps());
            try (GptTrainer trainer = new GptTrainer(settings, root, gpt, 0, 0)) {
                Path dir = new CheckpointStore(dataDir.resolve("checkpoints"), modelName, demo.keepCheckpoints()).write(
                        trainer, new CheckpointFormat.Meta(modelName, gpt.config(), tokenizer.id(), 0, 0, Float.NaN, null,
                                System.currentTimeMillis(), null, settings.seed()), tokenizer, chat);
                System.out.printf("imported %s as %s (%d parameters, tokenizer %s); start the trainer with "
                        + "--data-dir %s --tokenizer %s to continue training it%n", hf, dir, gpt.parameterCount(),
                        tokenizer.id(), dataDir, hf.resolve("tokenizer.json"));
            }
        }
        return 0;
    }
}
