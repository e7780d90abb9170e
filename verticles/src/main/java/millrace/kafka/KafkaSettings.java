package millrace.kafka;

import java.util.Properties;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Client settings every stage shares: where the cluster is, and the durability rules (acks=all, idempotence,
 * read_committed). Keys are strings; values are bytes encoded by the {@code protocol} serdes.
 */
public record KafkaSettings(String bootstrapServers, String instanceId) {

    public Properties admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return p;
    }

    /** An idempotent producer that is answered only after every in-sync replica has the record. */
    public Properties producer(String clientId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId + "-" + instanceId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(16 * 1024 * 1024));
        // bounded memory: send() blocks when 32 MB of records are waiting for the broker
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, String.valueOf(32L * 1024 * 1024));
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return p;
    }

    /**
     * A transactional producer: its records and the consumer offsets it commits become visible together, or not at
     * all. The id is stable per stage and instance so that a restarted instance fences its own unfinished transaction.
     */
    public Properties transactionalProducer(String stage) {
        Properties p = producer(stage);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "millrace-" + stage + "-" + instanceId);
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "30000");
        return p;
    }

    /** A consumer in a group that commits offsets itself and sees only committed transactional records. */
    public Properties consumer(String group, int maxPollRecords) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        if (group != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, memberId(group == null ? "reader" : group, instanceId));
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(maxPollRecords));
        p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, "600000");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return p;
    }

    /**
     * A group member with static membership ({@code group.instance.id} from this instance's stable id): a replica
     * restarted after a crash takes its partitions back at once instead of waiting out the dead member's session
     * (45 s). Two live processes must not share an instance id.
     */
    public Properties staticConsumer(String group, int maxPollRecords) {
        Properties p = consumer(group, maxPollRecords);
        p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, memberId(group, instanceId));
        return p;
    }

    /** A member's client id and group instance id in {@code group}: {@code <group>-<instance id>}. */
    private static String memberId(String group, String instanceId) {
        return group + "-" + instanceId;
    }

    /** The instance id inside a member id of {@code group} ({@link #memberId}'s inverse); another id as it is. */
    public static String instanceIdOf(String group, String memberId) {
        return memberId.startsWith(group + "-") ? memberId.substring(group.length() + 1) : memberId;
    }
}
