package millrace.feedback;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/** Ranges of {@code millrace.ratings}, read back exactly: how a policy's lineage is replayed. */
final class RatingsLog {
    private RatingsLog() {}

    /** Every record from {@code from} (inclusive) to {@code to} (exclusive) per partition, in (partition, offset) order. */
    static List<ConsumerRecord<String, byte[]>> read(KafkaSettings kafka, Map<String, Long> from, Map<String, Long> to) {
        List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null, 2000))) {
            List<TopicPartition> wanted = new ArrayList<>();
            for (TopicPartition tp : TopicReader.partitions(consumer, Topics.RATINGS)) {
                if (to.getOrDefault(key(tp), 0L) > from.getOrDefault(key(tp), 0L)) wanted.add(tp);
            }
            if (wanted.isEmpty()) return out;
            consumer.assign(wanted);
            for (TopicPartition tp : wanted) consumer.seek(tp, from.getOrDefault(key(tp), 0L));
            Map<TopicPartition, Long> end = new HashMap<>();
            for (TopicPartition tp : wanted) end.put(tp, to.get(key(tp)));
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (wanted.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("the ratings log ends before " + to);
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    if (r.offset() < end.get(new TopicPartition(r.topic(), r.partition()))) out.add(r);
                }
            }
        }
        out.sort(ORDER);
        return out;
    }

    /** The order an update takes its records in, whatever order they arrived in: by partition, then offset. */
    static final Comparator<ConsumerRecord<String, byte[]>> ORDER =
            Comparator.<ConsumerRecord<String, byte[]>>comparingInt(ConsumerRecord::partition).thenComparingLong(ConsumerRecord::offset);

    static String key(TopicPartition tp) {
        return Integer.toString(tp.partition());
    }
}
