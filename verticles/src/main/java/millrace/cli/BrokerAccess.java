package millrace.cli;

import java.nio.file.Path;
import java.util.List;
import millrace.kafka.EmbeddedKafka;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicSetup;

/**
 * The cluster an administrative command talks to: {@code --kafka} if given; else the embedded broker of
 * {@code --data-dir} — the running one of {@code up} if there is one, otherwise started for the command and stopped
 * after it, so that raters can be managed before the platform first runs or while it is down.
 */
final class BrokerAccess implements AutoCloseable {
    private final EmbeddedKafka started;
    private final KafkaSettings settings;

    private BrokerAccess(EmbeddedKafka started, String bootstrap, String client) {
        this.started = started;
        this.settings = new KafkaSettings(started != null ? started.bootstrapServers() : bootstrap,
                client + "-" + ProcessOptions.pid());
    }

    /** Opens the cluster and makes sure {@code topics} exist on it. */
    static BrokerAccess open(String kafka, Path dataDir, String client, List<String> topics) {
        BrokerAccess access;
        if (kafka != null) {
            access = new BrokerAccess(null, kafka, client);
        } else {
            Path log = dataDir.resolve("kafka");
            var running = EmbeddedKafka.runningAt(log);
            access = running.isPresent() ? new BrokerAccess(null, running.get(), client)
                    : new BrokerAccess(new EmbeddedKafka(log, 0).start(), null, client);
        }
        try {
            TopicSetup.ensureTopics(access.settings, topics, PlatformOptions.DEFAULT_PARTITIONS, TopicSetup.AUTO_REPLICATION);
            return access;
        } catch (RuntimeException e) {
            access.close();
            throw e;
        }
    }

    KafkaSettings settings() {
        return settings;
    }

    @Override
    public void close() {
        if (started != null) started.close();
    }
}
