package millrace.train;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import millrace.kafka.KafkaSettings;
import millrace.metrics.Metrics;
import millrace.protocol.SyncMessage;
import millrace.protocol.Topics;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A replica's Kafka side of {@code millrace.sync} ({@link ReplicaSync} holds the rounds): a read_committed reader of
 * its one partition, a transactional writer whose id is the replica's (a restarted replica fences its last
 * incarnation and aborts what it left open), and the model's group's members.
 */
final class SyncTopic implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SyncTopic.class);
    /** How long a pseudo-gradient's transaction may stay open (the broker's maximum is 15 minutes). */
    static final long TRANSACTION_TIMEOUT_MS = 300_000;

    private final String model;
    private final TopicPartition partition = new TopicPartition(Topics.SYNC, 0);
    private final KafkaConsumer<String, byte[]> reader;
    private final KafkaProducer<String, byte[]> writer;
    private final Admin admin;

    SyncTopic(KafkaSettings kafka, String model) {
        this.model = model;
        var readerProps = kafka.consumer(null, 64);
        // chunks are up to 0.5 MB: fetch a few dozen at a time (the consumer's per-partition default is 1 MB)
        readerProps.put("max.partition.fetch.bytes", String.valueOf(16 * 1024 * 1024));
        readerProps.put("fetch.max.bytes", String.valueOf(16 * 1024 * 1024));
        var writerProps = kafka.transactionalProducer("train-sync." + model);
        // a GPT-2-sized pseudo-gradient is 250 MB: its transaction may take longer than the stages' 30 s
        writerProps.put("transaction.timeout.ms", String.valueOf(TRANSACTION_TIMEOUT_MS));
        KafkaConsumer<String, byte[]> r = null;
        KafkaProducer<String, byte[]> w = null;
        try {
            r = new KafkaConsumer<>(readerProps);
            w = new KafkaProducer<>(writerProps);
            this.admin = Admin.create(kafka.admin());
        } catch (RuntimeException e) {
            if (w != null) w.close(Duration.ZERO);
            if (r != null) r.close(Duration.ZERO);
            throw e;
        }
        this.reader = r;
        this.writer = w;
        reader.assign(List.of(partition));
        try {
            writer.initTransactions(); // fences this replica's previous incarnation, aborting what it left open
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** What arrived, waiting at most {@code wait}; the bytes are counted as received. */
    List<ConsumerRecord<String, byte[]>> poll(Duration wait) {
        List<ConsumerRecord<String, byte[]>> records = reader.poll(wait).records(partition);
        for (ConsumerRecord<String, byte[]> r : records) {
            Metrics.TRAIN_SYNC_BYTES.labelValues("received").inc(r.serializedValueSize() + Math.max(0, r.serializedKeySize()));
        }
        return records;
    }

    /**
     * Reads from {@code from} to the log's very end, every record appended so far, committed or not: a read_committed
     * reader stops before another replica's open transaction until it commits or times out, and a restore that stopped
     * there would miss the replica's own pseudo-gradient committed after it. A clear error if retention deleted records
     * after {@code from}.
     */
    void readToEnd(long from, java.util.function.Consumer<ConsumerRecord<String, byte[]>> each) {
        long end = endOffset();
        long start = reader.beginningOffsets(List.of(partition)).get(partition);
        if (from < start) {
            // replaying from the log's start would sum less than the replicas that never stopped
            throw new IllegalStateException(Topics.SYNC + " starts at offset " + start + " but this replica's restore needs "
                    + "it from " + from + ". Restore the replica from a newer checkpoint of the run (checkpoints/" + model + "/run)");
        }
        reader.seek(partition, from);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(2 * TRANSACTION_TIMEOUT_MS);
        while (reader.position(partition) < end) {
            List<ConsumerRecord<String, byte[]>> records = poll(Duration.ofMillis(500));
            if (!records.isEmpty()) deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(2 * TRANSACTION_TIMEOUT_MS);
            records.forEach(each);
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(Topics.SYNC + " stays short of offset " + end + " at " + reader.position(partition));
            }
        }
    }

    private long endOffset() {
        try {
            return admin.listOffsets(Map.of(partition, OffsetSpec.latest()),
                    new ListOffsetsOptions(IsolationLevel.READ_UNCOMMITTED)).partitionResult(partition)
                    .get(30, TimeUnit.SECONDS).offset();
        } catch (Exception e) {
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            throw new IllegalStateException("cannot read the end of " + Topics.SYNC, e);
        }
    }

    /** Writes {@code messages} in one transaction: all of them become visible, or none. Returns the bytes written. */
    long write(List<SyncMessage> messages) {
        writer.beginTransaction();
        long bytes = 0;
        int keyBytes = model.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        try {
            for (SyncMessage m : messages) {
                byte[] value = SyncMessage.encode(m);
                bytes += value.length + keyBytes;
                writer.send(new ProducerRecord<>(Topics.SYNC, model, value));
            }
            writer.commitTransaction();
        } catch (RuntimeException e) {
            try {
                writer.abortTransaction(); // an open one holds every replica's read_committed reads back until it times out
            } catch (RuntimeException again) {
                LOG.debug("abort failed", again); // a fenced or closed writer: the broker aborts it at the timeout
            }
            throw e;
        }
        Metrics.TRAIN_SYNC_BYTES.labelValues("sent").inc(bytes);
        return bytes;
    }

    /**
     * The replicas (instance ids) in {@code group} holding shard partitions, {@code self} always among them; null when
     * the group cannot be described now.
     */
    Set<String> members(String group, String self) {
        try {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get(2, TimeUnit.SECONDS).get(group);
            Set<String> members = new HashSet<>();
            for (MemberDescription m : d.members()) {
                if (m.assignment().topicPartitions().isEmpty()) continue;
                members.add(KafkaSettings.instanceIdOf(group, m.groupInstanceId().orElse(m.clientId())));
            }
            members.add(self);
            return members;
        } catch (Exception e) {
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            LOG.debug("cannot describe group {}: {}", group, e.toString());
            return null;
        }
    }

    @Override
    public void close() {
        try {
            writer.close(Duration.ofSeconds(5));
        } finally {
            try {
                reader.close(Duration.ofSeconds(5));
            } finally {
                admin.close(Duration.ofSeconds(5));
            }
        }
    }
}
