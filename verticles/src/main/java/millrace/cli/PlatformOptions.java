package millrace.cli;

import java.util.ArrayList;
import java.util.List;
import millrace.PlatformConfig;
import millrace.model.BaseModel;
import millrace.model.CheckpointFormat;
import millrace.tokenizer.TextTokenizer;
import millrace.train.CheckpointStore;
import millrace.tokenizer.TokenizeSettings;
import millrace.tokenizer.Tokenizers;
import millrace.train.TrainSettings;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Options shared by {@code up} and {@code run}: the process, every stage's settings. */
final class PlatformOptions {
    @Mixin
    ProcessOptions process;

    @Option(names = "--corpus", split = ",", description = "Files, directories or URLs the ingest role reads at start.")
    List<String> corpus = new ArrayList<>();

    @Mixin
    IngestOptions ingest;

    @Mixin
    DedupOptions dedup;

    @Mixin
    TrainOptions train;

    @Mixin
    WebOptions web;

    @Mixin
    FeedbackOptions feedback;

    static final int DEFAULT_PARTITIONS = 4;

    @Option(names = "--partitions", defaultValue = "" + DEFAULT_PARTITIONS, description = "Partitions per topic when topics are created (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--replication-factor", defaultValue = "0", description = "Replicas of each topic when topics are created, with min.insync.replicas one less (default: min(3, brokers)).")
    short replicationFactor;

    @Option(names = "--http-port", defaultValue = "8080", description = "Port of the web role (default: ${DEFAULT-VALUE}).")
    int httpPort;

    @Option(names = "--rows-per-shard", defaultValue = "16", description = "Rows of seq-len+1 tokens per shard (default: ${DEFAULT-VALUE}).")
    int rowsPerShard;

    @Option(names = "--validation-share", defaultValue = "0.01", description = "Share of documents held out for validation (default: ${DEFAULT-VALUE}).")
    double validationShare;

    /**
     * The settings of {@code roles}. With {@code --base}, the platform is the base's: the tokenize role writes shards in
     * its tokenizer, the train role continues it (imported as the model's first checkpoint when the model has none),
     * the feedback role learns on it, and the web role serves it as soon as the train role announces that checkpoint.
     */
    PlatformConfig toConfig(String bootstrapServers, java.util.Set<millrace.Role> roles) throws java.io.IOException {
        if (partitions < 1) throw new IllegalArgumentException("--partitions must be >= 1");
        if (replicationFactor < 0) throw new IllegalArgumentException("--replication-factor must be >= 0");
        BaseModel base = feedback.base == null ? null : BaseModel.of(feedback.base);
        String tokenizerName = base == null ? process.tokenizer() : base.dir().resolve(CheckpointFormat.TOKENIZER).toString();
        TextTokenizer tok = Tokenizers.load(tokenizerName);
        if (base != null && process.tokenizer != null && !Tokenizers.load(process.tokenizer).id().equals(tok.id())) {
            throw new IllegalArgumentException("--tokenizer " + process.tokenizer + " is not the tokenizer of --base " + base.dir());
        }
        TokenizeSettings tokenize = new TokenizeSettings(tokenizerName, process.seqLen, rowsPerShard, validationShare, 2000);
        TrainSettings trainSettings = train.settings(tokenizerName, tok.vocabSize(), process.seqLen,
                base == null ? null : base.config());
        if (base != null && roles.contains(millrace.Role.TRAIN)) {
            if (process.seqLen > base.config().contextLength()) {
                throw new IllegalArgumentException("--seq-len " + process.seqLen + " is longer than the base's context, "
                        + base.config().contextLength());
            }
            new CheckpointStore(process.dataDir.resolve("checkpoints"), trainSettings.modelName(), trainSettings.keepCheckpoints())
                    .importUnlessTrained(base);
        }
        return new PlatformConfig(process.kafka(bootstrapServers), process.dataDir, ingest.settings(corpus),
                partitions, httpPort, process.opsPort, dedup.settings(), tokenize, trainSettings,
                web.settings(trainSettings.modelName()), feedback.settings(trainSettings.modelName()), replicationFactor);
    }
}
