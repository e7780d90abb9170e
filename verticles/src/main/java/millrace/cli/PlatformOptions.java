package millrace.cli;

import java.util.ArrayList;
import java.util.List;
import millrace.PlatformConfig;
import millrace.tokenizer.TextTokenizer;
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

    PlatformConfig toConfig(String bootstrapServers) {
        if (partitions < 1) throw new IllegalArgumentException("--partitions must be >= 1");
        if (replicationFactor < 0) throw new IllegalArgumentException("--replication-factor must be >= 0");
        TextTokenizer tok = Tokenizers.load(process.tokenizer);
        TokenizeSettings tokenize = new TokenizeSettings(process.tokenizer, process.seqLen, rowsPerShard, validationShare, 2000);
        TrainSettings trainSettings = train.settings(process.tokenizer, tok.vocabSize(), process.seqLen);
        return new PlatformConfig(process.kafka(bootstrapServers), process.dataDir, ingest.settings(corpus),
                partitions, httpPort, process.opsPort, dedup.settings(), tokenize, trainSettings,
                web.settings(trainSettings.modelName()), feedback.settings(trainSettings.modelName()), replicationFactor);
    }
}
