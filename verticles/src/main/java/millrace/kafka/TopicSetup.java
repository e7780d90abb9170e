package millrace.kafka;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import millrace.protocol.Topics;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Creates the topics of the contract that do not exist yet; existing topics are left as they are. */
public final class TopicSetup {
    private static final Logger LOG = LoggerFactory.getLogger(TopicSetup.class);

    private TopicSetup() {}

    public static void ensureTopics(KafkaSettings kafka, int partitions, short replicationFactor) {
        ensureTopics(kafka, Topics.ALL, partitions, replicationFactor);
    }

    /** Creates those of {@code topics} (names of the contract) that do not exist yet. */
    public static void ensureTopics(KafkaSettings kafka, List<String> topics, int partitions, short replicationFactor) {
        try (Admin admin = Admin.create(kafka.admin())) {
            Set<String> existing = admin.listTopics().names().get();
            List<NewTopic> missing = new ArrayList<>();
            for (String name : topics) {
                if (existing.contains(name)) continue;
                NewTopic topic = new NewTopic(name, Topics.SINGLE_PARTITION.contains(name) ? 1 : partitions, replicationFactor);
                if (Topics.COMPACTED.contains(name)) {
                    topic.configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
                } else {
                    // the stream is the record of what happened: keep it until an operator says otherwise
                    topic.configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1"));
                }
                missing.add(topic);
            }
            if (missing.isEmpty()) return;
            try {
                admin.createTopics(missing).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
            LOG.info("created topics {} with {} partitions", missing.stream().map(NewTopic::name).toList(), partitions);
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot create topics: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
