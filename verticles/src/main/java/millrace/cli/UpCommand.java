package millrace.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Callable;
import millrace.Platform;
import millrace.PlatformConfig;
import millrace.Role;
import millrace.kafka.EmbeddedKafka;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Every role plus an embedded broker: the whole platform from one command. */
@Command(name = "up", mixinStandardHelpOptions = true,
        description = "Run every role and an embedded single-node Kafka broker (KRaft) with its log under --data-dir. "
                + "Without --corpus, ingests the sample corpus shipped in corpus/. Ctrl-C stops it cleanly.")
final class UpCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(UpCommand.class);

    @Mixin
    PlatformOptions options;

    @Option(names = "--kafka", description = "Use this external cluster (host:port) instead of the embedded broker.")
    String kafka;

    @Option(names = "--kafka-port", defaultValue = "9092", description = "Client port of the embedded broker (default: ${DEFAULT-VALUE}).")
    int kafkaPort;

    @Override
    public Integer call() throws Exception {
        if (options.corpus.isEmpty()) options.corpus = List.of(sampleCorpus().toString());
        EmbeddedKafka broker = null;
        String bootstrap = kafka;
        if (bootstrap == null) {
            broker = new EmbeddedKafka(options.process.dataDir.resolve("kafka"), kafkaPort).start();
            bootstrap = broker.bootstrapServers();
        }
        PlatformConfig config = options.toConfig(bootstrap, EnumSet.allOf(Role.class));
        Platform platform;
        try {
            platform = Platform.start(EnumSet.allOf(Role.class), config);
        } catch (RuntimeException e) {
            if (broker != null) broker.close();
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        EmbeddedKafka brokerToStop = broker;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("stopping");
            platform.close();
            if (brokerToStop != null) brokerToStop.close();
            stopped.countDown();
        }, "millrace-shutdown"));
        System.out.println("Millrace is up: http://localhost:" + platform.httpPort() + " (Kafka at " + bootstrap
                + ", data in " + options.process.dataDir.toAbsolutePath() + "). Ctrl-C stops it.");
        stopped.await();
        return 0;
    }

    /** {@code corpus/} beside the launcher ({@code MILLRACE_HOME}), else in the working directory. */
    static Path sampleCorpus() {
        String home = System.getenv("MILLRACE_HOME");
        Path corpus = home != null ? Path.of(home, "corpus") : Path.of("corpus");
        if (!Files.isDirectory(corpus)) {
            throw new IllegalArgumentException("no --corpus given and no sample corpus at " + corpus.toAbsolutePath());
        }
        return corpus;
    }
}
