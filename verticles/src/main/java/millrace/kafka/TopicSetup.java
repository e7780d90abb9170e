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

/**
 * Creates the topics of the contract that do not exist yet; existing topics are left as they are. Each is replicated
 * to min(3, brokers up now) brokers unless told otherwise, with {@code min.insync.replicas} one less (at least 1):
 * with three replicas and {@code acks=all}, a record is on two brokers before anyone is told it was written, and one
 * broker can be down. (On a cluster with a broker down at setup, pass the factor: it is not changed later.)
 */
public final class TopicSetup {
    private static final Logger LOG = LoggerFactory.getLogger(TopicSetup.class);
    /** Replication factor 0: min(3, the brokers of the cluster). */
    public static final short AUTO_REPLICATION = 0;

    private TopicSetup() {}

    /** @param replicationFactor replicas of each new topic ({@link #AUTO_REPLICATION}: min(3, brokers)) */
    public static void ensureTopics(KafkaSettings kafka, int partitions, short replicationFactor) {
        ensureTopics(kafka, Topics.ALL, partitions, replicationFactor);
    }

    /** Creates those of {@code topics} (names of the contract) that do not exist yet. */
    public static void ensureTopics(KafkaSettings kafka, List<String> topics, int partitions, short replicationFactor) {
        try (Admin admin = Admin.create(kafka.admin())) {
            Set<String> existing = admin.listTopics().names().get();
            if (existing.containsAll(topics)) return;
            int brokers = admin.describeCluster().nodes().get().size();
            short replicas = replicationFactor > 0 ? replicationFactor : (short) Math.min(3, brokers);
            if (replicas > brokers) {
                throw new IllegalArgumentException("replication factor " + replicas + " needs " + replicas
                        + " brokers; the cluster has " + brokers);
            }
            String minInsync = Integer.toString(Math.max(1, replicas - 1));
            List<NewTopic> missing = new ArrayList<>();
            for (String name : topics) {
                if (existing.contains(name)) continue;
                NewTopic topic = new NewTopic(name, Topics.SINGLE_PARTITION.contains(name) ? 1 : partitions, replicas);
                if (Topics.COMPACTED.contains(name)) {
                    topic.configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
                            TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, minInsync));
                } else {
                    // the stream is the record of what happened: keep it until an operator says otherwise
                    topic.configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, Long.toString(Topics.RETENTION_MS.getOrDefault(name, -1L)),
                            TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, minInsync));
                }
                missing.add(topic);
            }
            if (missing.isEmpty()) return;
            try {
                admin.createTopics(missing).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
            LOG.info("created topics {} with {} partitions, replication factor {} (min.insync.replicas {})",
                    missing.stream().map(NewTopic::name).toList(), partitions, replicas, minInsync);
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot create topics: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
