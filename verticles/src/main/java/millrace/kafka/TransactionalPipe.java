package millrace.kafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Consume, transform, produce — exactly once. Each poll's outputs and the input offsets that produced them are
 * committed in one Kafka transaction, so a crash at any point neither loses nor duplicates a record downstream.
 *
 * <p>Any exception leaves the pipe unusable: the owner closes it and builds a new one, which resumes from the last
 * committed transaction (crash-only recovery; in-memory state is rebuilt by the stage, never patched up).
 */
public final class TransactionalPipe implements AutoCloseable {

    /** What a stage does with its input. Called on the pipe's thread only. */
    public interface Stage {
        void process(ConsumerRecord<String, byte[]> record, Output out);

        /** Called after the records of a non-empty poll were processed, before their transaction commits. */
        default void endOfBatch(Output out) {}

        /** Called when a poll returned nothing: a chance to flush time-based work. */
        default void idle(Output out) {}

        /** The offset (and metadata) to commit for a partition whose next unread offset is {@code position}. */
        default OffsetAndMetadata commitPoint(TopicPartition partition, long position) {
            return new OffsetAndMetadata(position);
        }

        /** The partition is now ours; {@code committed} is what the last owner committed (null when nothing). */
        default void assigned(TopicPartition partition, OffsetAndMetadata committed) {}

        /** The partition went to another replica: forget its state. */
        default void revoked(TopicPartition partition) {}
    }

    /** Where a stage puts its output records; they are sent inside the current transaction. */
    public interface Output {
        void send(String topic, String key, byte[] value);

        /**
         * Runs {@code update} (a metric counting this output) once the transaction commits: an aborted transaction's
         * records are processed again, and must not be counted twice.
         */
        void afterCommit(Runnable update);
    }

    private final KafkaConsumer<String, byte[]> consumer;
    private final KafkaProducer<String, byte[]> producer;
    private final Stage stage;
    private final String stageName;
    private final String inputTopic;
    private final List<ProducerRecord<String, byte[]>> pending = new ArrayList<>();
    private final List<Runnable> afterCommit = new ArrayList<>();
    private final Output output = new Output() {
        @Override
        public void send(String topic, String key, byte[] value) {
            pending.add(new ProducerRecord<>(topic, key, value));
        }

        @Override
        public void afterCommit(Runnable update) {
            afterCommit.add(update);
        }
    };

    public TransactionalPipe(KafkaSettings kafka, String stageName, String inputTopic, int maxPollRecords, Stage stage) {
        this.stage = stage;
        this.stageName = stageName;
        this.inputTopic = inputTopic;
        this.producer = new KafkaProducer<>(kafka.transactionalProducer(stageName));
        try {
            this.producer.initTransactions();
            this.consumer = new KafkaConsumer<>(kafka.consumer("millrace-" + stageName, maxPollRecords));
        } catch (RuntimeException | Error e) {
            producer.close(Duration.ZERO); // the stage retries every second: nothing may pile up
            throw e;
        }
        this.consumer.subscribe(List.of(inputTopic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                partitions.forEach(stage::revoked);
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                partitions.forEach(stage::revoked);
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(Set.copyOf(partitions));
                for (TopicPartition tp : partitions) {
                    OffsetAndMetadata c = committed.get(tp);
                    if (c != null) consumer.seek(tp, c); // our commit point can lie behind the position
                    stage.assigned(tp, c);
                }
            }
        });
    }

    /** One poll, its processing and its transaction. Returns the number of input records handled. */
    public int pollOnce(Duration timeout) {
        ConsumerRecords<String, byte[]> records = consumer.poll(timeout);
        ConsumerLag.record(stageName, inputTopic, consumer);
        if (records.isEmpty()) stage.idle(output);
        for (ConsumerRecord<String, byte[]> record : records) stage.process(record, output);
        if (!records.isEmpty()) stage.endOfBatch(output);
        if (records.isEmpty() && pending.isEmpty()) {
            runAfterCommit(); // what idle() counted without records to send
            return 0;
        }

        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (TopicPartition tp : consumer.assignment()) {
            offsets.put(tp, stage.commitPoint(tp, consumer.position(tp)));
        }
        producer.beginTransaction();
        for (ProducerRecord<String, byte[]> r : pending) producer.send(r);
        pending.clear();
        producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
        producer.commitTransaction();
        runAfterCommit();
        return records.count();
    }

    private void runAfterCommit() {
        afterCommit.forEach(Runnable::run);
        afterCommit.clear();
    }

    /** Input partitions this pipe's consumer owns now. */
    public int assignedPartitions() {
        return consumer.assignment().size();
    }

    @Override
    public void close() {
        pending.clear();
        afterCommit.clear();
        try {
            consumer.close(Duration.ofSeconds(5));
        } finally {
            producer.close(Duration.ofSeconds(5));
        }
    }
}
