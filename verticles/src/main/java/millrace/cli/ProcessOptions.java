package millrace.cli;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.file.Path;
import millrace.kafka.KafkaSettings;
import picocli.CommandLine.Option;

/** Options of every long-running process: where its data lives, who it is among replicas, its ops port, its tokens. */
final class ProcessOptions {
    @Option(names = "--data-dir", defaultValue = "millrace-data", description = "Checkpoints and the embedded broker's log (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--ops-port", defaultValue = "9404", description = "Port of /metrics, /health and /ready of this process (default: ${DEFAULT-VALUE}).")
    int opsPort;

    @Option(names = "--instance-id", description = "Stable id of this process among replicas (default: host name).")
    String instanceId;

    @Option(names = "--tokenizer", description = "Tokenizer: r50k, cl100k, o200k or a tokenizer.json (default: r50k; with --base, the base's own).")
    String tokenizer;

    @Option(names = "--seq-len", defaultValue = "64", description = "Context length of training rows (default: ${DEFAULT-VALUE}).")
    int seqLen;

    /** The tokenizer asked for, or r50k. */
    String tokenizer() {
        return tokenizer != null ? tokenizer : "r50k";
    }

    KafkaSettings kafka(String bootstrapServers) {
        return new KafkaSettings(bootstrapServers, instanceId());
    }

    private String instanceId() {
        if (instanceId != null) return instanceId;
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            return "localhost";
        }
    }

    static String pid() {
        return Long.toString(ManagementFactory.getRuntimeMXBean().getPid());
    }
}
