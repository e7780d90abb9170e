package millrace;

import java.nio.file.Path;
import millrace.dedup.DedupSettings;
import millrace.ingest.IngestSettings;
import millrace.kafka.KafkaSettings;
import millrace.tokenizer.TokenizeSettings;
import millrace.train.TrainSettings;
import millrace.feedback.FeedbackSettings;
import millrace.web.WebSettings;

/**
 * Everything a Millrace process needs to run its roles.
 *
 * @param kafka the cluster and this instance's id
 * @param dataDir where checkpoints (and the embedded broker's log) live
 * @param ingest what the ingest role reads (and whether it keeps watching)
 * @param partitions partitions of each topic when the topics are created
 * @param httpPort port of the web role (0: any free port)
 * @param opsPort port of this process's /metrics, /health and /ready (0: any free port)
 * @param dedup the dedup role's filters and MinHash parameters
 * @param tokenize how documents become shards
 * @param train how the model trains
 * @param web what the web role serves, and its limits
 * @param feedback how the feedback role learns from ratings
 * @param replicationFactor replicas of each topic when the topics are created (0: min(3, brokers))
 */
public record PlatformConfig(KafkaSettings kafka, Path dataDir, IngestSettings ingest, int partitions, int httpPort,
        int opsPort, DedupSettings dedup, TokenizeSettings tokenize, TrainSettings train, WebSettings web,
        FeedbackSettings feedback, short replicationFactor) {

    /** Topics replicated to min(3, brokers). */
    public PlatformConfig(KafkaSettings kafka, Path dataDir, IngestSettings ingest, int partitions, int httpPort,
            int opsPort, DedupSettings dedup, TokenizeSettings tokenize, TrainSettings train, WebSettings web,
            FeedbackSettings feedback) {
        this(kafka, dataDir, ingest, partitions, httpPort, opsPort, dedup, tokenize, train, web, feedback,
                millrace.kafka.TopicSetup.AUTO_REPLICATION);
    }

    public Path checkpointDir() {
        return dataDir.resolve("checkpoints");
    }
}
