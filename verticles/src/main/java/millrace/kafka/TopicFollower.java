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
    /** The topics' ends when this follower started; null once it has read that far. */
    private java.util.Map<TopicPartition, Long> startEnds;
    private Runnable onCaughtUp = () -> { };

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
            startEnds = consumer.endOffsets(followed);
        } catch (RuntimeException e) {
            consumer.close(Duration.ZERO);
            throw e;
        }
    }

    /** The consumer, for the end offsets of other topics (not for polling). */
    public KafkaConsumer<String, byte[]> consumer() {
        return consumer;
    }

    /** Called once, on the follower's thread, when everything the topics held at its start has been handed over. */
    public TopicFollower whenCaughtUp(Runnable r) {
        onCaughtUp = r;
        return this;
    }

    @Override
    public void step() {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(pollTimeout)) onRecord.accept(r);
        if (startEnds != null && startEnds.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue())) {
            startEnds = null;
            onCaughtUp.run();
        }
        afterPoll.run();
    }

    @Override
    public void close() {
        consumer.close(Duration.ofSeconds(5));
    }
}
