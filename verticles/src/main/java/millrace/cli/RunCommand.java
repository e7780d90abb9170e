package millrace.cli;

import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import millrace.Platform;
import millrace.Role;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Some roles against an existing cluster: how replicas run at scale. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Run the given roles in this JVM against an existing Kafka cluster.")
final class RunCommand implements Callable<Integer> {
    @Mixin
    PlatformOptions options;

    @Option(names = "--roles", required = true, description = "Comma-separated: ingest, dedup, tokenize, train, web, or all.")
    String roles;

    @Option(names = "--kafka", defaultValue = "localhost:9092", description = "Bootstrap servers (default: ${DEFAULT-VALUE}).")
    String kafka;

    @Override
    public Integer call() throws Exception {
        var parsed = Role.parse(roles);
        Platform platform = Platform.start(parsed, options.toConfig(kafka, parsed));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            platform.close();
            stopped.countDown();
        }, "millrace-shutdown"));
        stopped.await();
        return 0;
    }
}
