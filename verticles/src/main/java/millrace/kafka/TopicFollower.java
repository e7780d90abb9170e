package millrace.kafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * Follows topics from their beginning, outside any consumer group (committed records only), handing every record to
 * {@code onRecord}: how a process builds its view of a compacted topic or its running totals of a stream. As a stage's
 * worker it is rebuilt after a failure and then reads everything again, so {@code onRecord} must tolerate a replay.
 */
public final class TopicFollower implements StageVerticle.Worker {
    private final KafkaConsumer<String, byte[]> consumer;
    private final Consumer<ConsumerRecord<String, byte[]>> onRecord;
    private final Runnable afterPoll;
    private final Duration pollTimeout;

    public TopicFollower(KafkaSettings kafka, List<String> topics, Duration pollTimeout,
            Consumer<ConsumerRecord<String, byte[]>> onRecord, Runnable afterPoll) {
        this.onRecord = onRecord;
        this.afterPoll = afterPoll;
        this.pollTimeout = pollTimeout;
        this.consumer = new KafkaConsumer<>(kafka.consumer(null, 1000));
        try {
            List<TopicPartition> followed = new ArrayList<>();
            for (String topic : topics) followed.addAll(TopicReader.partitions(consumer, topic));
            consumer.assign(followed);
            consumer.seekToBeginning(followed);
        } catch (RuntimeException e) {
            consumer.close(Duration.ZERO);
            throw e;
        }
    }

    /** The consumer, for the end offsets of other topics (not for polling). */
    public KafkaConsumer<String, byte[]> consumer() {
        return consumer;
    }

    @Override
    public void step() {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(pollTimeout)) onRecord.accept(r);
        afterPoll.run();
    }

    @Override
    public void close() {
        consumer.close(Duration.ofSeconds(5));
    }
}
