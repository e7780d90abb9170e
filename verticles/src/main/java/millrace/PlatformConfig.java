package millrace;

import java.nio.file.Path;
import java.util.List;
import millrace.kafka.KafkaSettings;
import millrace.tokenizer.TokenizeSettings;
import millrace.train.TrainSettings;

/**
 * Everything a Millrace process needs to run its roles.
 *
 * @param kafka the cluster and this instance's id
 * @param dataDir where checkpoints (and the embedded broker's log) live
 * @param corpus paths the ingest role reads at start
 * @param partitions partitions of each topic when the topics are created
 * @param httpPort port of the web role (0: any free port)
 * @param opsPort port of this process's /metrics, /health and /ready (0: any free port)
 * @param tokenize how documents become shards
 * @param train how the model trains
 */
public record PlatformConfig(KafkaSettings kafka, Path dataDir, List<Path> corpus, int partitions, int httpPort,
        int opsPort, TokenizeSettings tokenize, TrainSettings train) {

    public Path checkpointDir() {
        return dataDir.resolve("checkpoints");
    }
}
