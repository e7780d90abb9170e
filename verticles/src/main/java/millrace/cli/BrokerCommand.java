package millrace.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import millrace.kafka.EmbeddedKafka;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicSetup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The embedded broker alone, as its own process: what {@code run --roles X} processes connect to on one machine. */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = "Run the embedded single-node Kafka broker (KRaft) alone, with its log under --data-dir/kafka, and create the topics.")
final class BrokerCommand implements Callable<Integer> {
    @Option(names = "--data-dir", defaultValue = "millrace-data", description = "Its log goes under DIR/kafka (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--kafka-port", defaultValue = "9092", description = "Client port (default: ${DEFAULT-VALUE}).")
    int kafkaPort;

    @Option(names = "--partitions", defaultValue = "" + PlatformOptions.DEFAULT_PARTITIONS, description = "Partitions per topic when topics are created (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Override
    public Integer call() throws Exception {
        EmbeddedKafka broker = new EmbeddedKafka(dataDir.resolve("kafka"), kafkaPort).start();
        TopicSetup.ensureTopics(new KafkaSettings(broker.bootstrapServers(), "broker"), partitions, TopicSetup.AUTO_REPLICATION);
        System.out.println("broker ready at " + broker.bootstrapServers());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            broker.close();
            stopped.countDown();
        }, "millrace-broker-shutdown"));
        stopped.await();
        return 0;
    }
}
