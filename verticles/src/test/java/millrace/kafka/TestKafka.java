package millrace.kafka;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real single-node broker in a temporary directory with the contract's topics. Either started by hand
 * ({@link #start}) or, as {@code @RegisterExtension static TestKafka kafka = TestKafka.perClass(n)}, for a test class.
 */
public final class TestKafka implements AutoCloseable, BeforeAllCallback, AfterAllCallback {
    private EmbeddedKafka broker;
    private final int partitions;
    private Path ownDir;

    private TestKafka(EmbeddedKafka broker, int partitions) {
        this.broker = broker;
        this.partitions = partitions;
    }

    public static TestKafka start(Path dir, int partitions) {
        TestKafka kafka = new TestKafka(null, partitions);
        kafka.startIn(dir);
        return kafka;
    }

    /** A broker started before the class's first test and stopped (its directory deleted) after its last. */
    public static TestKafka perClass(int partitions) {
        return new TestKafka(null, partitions);
    }

    private void startIn(Path dir) {
        broker = new EmbeddedKafka(dir, 0).start();
        TopicSetup.ensureTopics(settings("setup"), partitions, TopicSetup.AUTO_REPLICATION);
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        ownDir = Files.createTempDirectory("millrace-kafka-");
        startIn(ownDir);
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        close();
        try (var files = Files.walk(ownDir)) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
        }
    }

    public KafkaSettings settings(String instanceId) {
        return new KafkaSettings(broker.bootstrapServers(), instanceId);
    }

    public int partitions() {
        return partitions;
    }

    /** Every committed record now on {@code topic}. */
    public List<ConsumerRecord<String, byte[]>> records(String topic) {
        List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
        TopicReader.readAll(settings("reader"), topic, out::add);
        return out;
    }

    public <T> List<T> read(String topic, Function<byte[], T> decode) {
        return records(topic).stream().map(r -> decode.apply(r.value())).toList();
    }

    /** Waits until {@code condition} holds for what {@code topic} holds, and returns that. */
    public <T> List<T> await(String topic, Function<byte[], T> decode, Predicate<List<T>> condition, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<T> seen = read(topic, decode);
        while (!condition.test(seen)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting on " + topic + "; it holds " + seen.size() + " records");
            }
            Thread.sleep(250);
            seen = read(topic, decode);
        }
        return seen;
    }

    @Override
    public void close() {
        broker.close();
    }
}
