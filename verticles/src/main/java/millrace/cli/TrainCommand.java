package millrace.cli;

import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import millrace.Platform;
import millrace.PlatformConfig;
import millrace.Role;
import millrace.dedup.DedupSettings;
import millrace.ingest.IngestSettings;
import millrace.tokenizer.TokenizeSettings;
import millrace.feedback.FeedbackSettings;
import millrace.web.WebSettings;
import millrace.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The train role alone, against a running pipeline: pretrains on {@code millrace.shards}, resumes from the newest
 * checkpoint under {@code --data-dir}, and with {@code --max-steps} stops by itself after a last checkpoint.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Pretrain a GPT on the token shards of a running pipeline (millrace.shards on --kafka), resuming from "
                + "the newest checkpoint under --data-dir. Runs until Ctrl-C, or until --max-steps with a last checkpoint.")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    ProcessOptions process;

    @Mixin
    TrainOptions train;

    @Option(names = "--kafka", defaultValue = "localhost:9092", description = "Bootstrap servers (default: ${DEFAULT-VALUE}).")
    String kafka;

    @Override
    public Integer call() throws Exception {
        int vocabSize = Tokenizers.load(process.tokenizer()).vocabSize();
        // only the train role runs here; the other stages' settings are their defaults and unused
        PlatformConfig config = new PlatformConfig(process.kafka(kafka), process.dataDir, IngestSettings.of(List.of()), 4,
                0, process.opsPort, DedupSettings.DEFAULT, new TokenizeSettings(process.tokenizer(), process.seqLen, 16, 0.01, 2000),
                train.settings(process.tokenizer(), vocabSize, process.seqLen), WebSettings.defaults(train.modelName), FeedbackSettings.defaults(train.modelName));
        Platform platform = Platform.start(EnumSet.of(Role.TRAIN), config);
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            platform.close();
            stopped.countDown();
        }, "millrace-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        platform.trainingFinished().thenAccept(step -> {
            System.out.println("trained " + step + " steps; checkpoints in " + config.checkpointDir().toAbsolutePath());
            stopped.countDown();
        });
        stopped.await();
        if (platform.trainingFinished().isDone()) {
            Runtime.getRuntime().removeShutdownHook(hook);
            platform.close();
        }
        return 0;
    }
}
