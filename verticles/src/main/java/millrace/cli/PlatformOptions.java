package millrace.cli;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import millrace.PlatformConfig;
import millrace.kafka.KafkaSettings;
import millrace.tokenizer.TextTokenizer;
import millrace.tokenizer.TokenizeSettings;
import millrace.tokenizer.Tokenizers;
import millrace.train.TrainSettings;
import millrace.model.GptConfig;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Options shared by {@code up} and {@code run}. */
final class PlatformOptions {
    @Option(names = "--data-dir", defaultValue = "millrace-data", description = "Checkpoints and the embedded broker's log (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--corpus", split = ",", description = "Files, directories or URLs the ingest role reads at start.")
    List<String> corpus = new ArrayList<>();

    @Mixin
    IngestOptions ingest;

    @Mixin
    DedupOptions dedup;

    @Option(names = "--partitions", defaultValue = "4", description = "Partitions per topic when topics are created (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--http-port", defaultValue = "8080", description = "Port of the web role (default: ${DEFAULT-VALUE}).")
    int httpPort;

    @Option(names = "--ops-port", defaultValue = "9404", description = "Port of /metrics, /health and /ready of this process (default: ${DEFAULT-VALUE}).")
    int opsPort;

    @Option(names = "--instance-id", description = "Stable id of this process among replicas (default: host name and pid).")
    String instanceId;

    @Option(names = "--tokenizer", defaultValue = "r50k", description = "Tokenizer: r50k, cl100k, o200k or a tokenizer.json (default: ${DEFAULT-VALUE}).")
    String tokenizer;

    @Option(names = "--seq-len", defaultValue = "64", description = "Context length of training rows (default: ${DEFAULT-VALUE}).")
    int seqLen;

    @Option(names = "--rows-per-shard", defaultValue = "16", description = "Rows of seq-len+1 tokens per shard (default: ${DEFAULT-VALUE}).")
    int rowsPerShard;

    @Option(names = "--validation-share", defaultValue = "0.01", description = "Share of documents held out for validation (default: ${DEFAULT-VALUE}).")
    double validationShare;

    @Option(names = "--model", defaultValue = "tiny", description = "Model preset: tiny, small, gpt2-124m (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--batch-size", defaultValue = "8", description = "Rows per optimizer step (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--micro-batch-size", description = "Rows per forward/backward pass; a step accumulates the gradients of batch-size / micro-batch-size passes (default: the batch size).")
    Integer microBatchSize;

    @Option(names = "--precision", defaultValue = "FP32", description = "FP32, or FP16 compute with fp32 master weights and dynamic loss scaling (default: ${DEFAULT-VALUE}).")
    millrace.train.TrainSettings.Precision precision;

    @Option(names = "--device", defaultValue = "auto", description = "cpu, gpu or auto: a GPU when libtorch sees one (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--checkpoint-every", defaultValue = "10", description = "Seconds between checkpoints (default: ${DEFAULT-VALUE}).")
    long checkpointEverySeconds;

    PlatformConfig toConfig(String bootstrapServers) {
        if (partitions < 1) throw new IllegalArgumentException("--partitions must be >= 1");
        if (batchSize < 1) throw new IllegalArgumentException("--batch-size must be >= 1");
        TextTokenizer tok = Tokenizers.load(tokenizer);
        TokenizeSettings tokenize = new TokenizeSettings(tokenizer, seqLen, rowsPerShard, validationShare, 2000);
        TrainSettings demo = TrainSettings.tinyDemo(tokenizer, tok.vocabSize(), seqLen);
        TrainSettings train = new TrainSettings(demo.modelName(), GptConfig.preset(model, tok.vocabSize(), seqLen),
                tokenizer, batchSize, demo.schedule(), demo.clipNorm(), demo.adam(), demo.seed(),
                checkpointEverySeconds, demo.keepCheckpoints(), demo.evalEverySteps(),
                microBatchSize == null ? batchSize : microBatchSize, precision, device);
        return new PlatformConfig(new KafkaSettings(bootstrapServers, instanceId()), dataDir, ingest.settings(corpus),
                partitions, httpPort, opsPort, dedup.settings(), tokenize, train);
    }

    private String instanceId() {
        if (instanceId != null) return instanceId;
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            host = "localhost";
        }
        return host;
    }

    static String pid() {
        return Long.toString(ManagementFactory.getRuntimeMXBean().getPid());
    }
}
