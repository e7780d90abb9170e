package millrace.kafka;

import java.util.OptionalLong;
import millrace.metrics.Metrics;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.TopicPartition;

/** Publishes a stage's consumer lag from what its consumer already knows (no extra request to the broker). */
public final class ConsumerLag {
    private ConsumerLag() {}

    public static void record(String stage, String topic, Consumer<?, ?> consumer) {
        long lag = 0;
        for (TopicPartition tp : consumer.assignment()) {
            OptionalLong l = consumer.currentLag(tp);
            if (l.isPresent()) lag += l.getAsLong();
        }
        Metrics.KAFKA_CONSUMER_LAG.labelValues(stage, topic).set(lag);
    }
}
