package millrace.cli;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import millrace.protocol.Rater;
import millrace.protocol.Topics;
import millrace.raters.RaterAdmin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code millrace raters add|list|revoke}: who may rate, on {@code millrace.raters}. */
@Command(name = "raters", mixinStandardHelpOptions = true,
        description = "Manage who may rate: tokens live (as hashes) on the compacted millrace.raters topic, which every "
                + "web replica follows.",
        subcommands = {RatersCommand.Add.class, RatersCommand.ListRaters.class, RatersCommand.Revoke.class})
final class RatersCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Where the raters topic is: a cluster, or the embedded broker of a data dir (running or not). */
    static final class Cluster {
        @Option(names = "--kafka", description = "Bootstrap servers of a running pipeline's cluster.")
        String kafka;

        @Option(names = "--data-dir", defaultValue = "millrace-data",
                description = "Without --kafka: the data dir of 'up' — its running broker, or the broker started on it for this command (default: ${DEFAULT-VALUE}).")
        Path dataDir;

        RaterAdmin admin(BrokerAccess access) {
            return new RaterAdmin(access.settings());
        }

        BrokerAccess open() {
            return BrokerAccess.open(kafka, dataDir, "raters", List.of(Topics.RATERS));
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Add a rater and print its new bearer token (shown once; the last word of the last line).")
    static final class Add implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Cluster cluster;

        @Parameters(index = "0", description = "The rater's name (letters, digits, . _ @ -; up to 64).")
        String name;

        @Override
        public Integer call() {
            new Rater(name, "0".repeat(64), 0, null); // the name's rules, checked before any broker starts
            try (BrokerAccess access = cluster.open(); RaterAdmin admin = cluster.admin(access)) {
                String token = admin.add(name);
                System.out.println("rater " + name + " added; give them this bearer token (it is not stored and cannot be shown again):");
                System.out.println("token: " + token);
            }
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List raters: name, created, state.")
    static final class ListRaters implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Cluster cluster;

        @Override
        public Integer call() {
            try (BrokerAccess access = cluster.open(); RaterAdmin admin = cluster.admin(access)) {
                List<Rater> raters = admin.list();
                System.out.printf("%-24s %-24s %s%n", "NAME", "CREATED", "STATE");
                for (Rater r : raters) {
                    System.out.printf("%-24s %-24s %s%n", r.name(), Instant.ofEpochMilli(r.createdAtMillis()),
                            r.revoked() ? "revoked " + Instant.ofEpochMilli(r.revokedAtMillis()) : "active");
                }
            }
            return 0;
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
            description = "Disable a rater's token: every web replica refuses it within a second.")
    static final class Revoke implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Cluster cluster;

        @Parameters(index = "0", description = "The rater's name.")
        String name;

        @Override
        public Integer call() {
            try (BrokerAccess access = cluster.open(); RaterAdmin admin = cluster.admin(access)) {
                admin.revoke(name);
                System.out.println("rater " + name + " revoked");
            }
            return 0;
        }
    }
}
