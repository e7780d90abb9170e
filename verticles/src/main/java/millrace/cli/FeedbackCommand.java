package millrace.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.Callable;
import millrace.feedback.PolicyRebuilder;
import millrace.protocol.Topics;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code millrace feedback rebuild}: a policy replayed from the ratings log. */
@Command(name = "feedback", mixinStandardHelpOptions = true, description = "Work on the policies the feedback role learns.",
        subcommands = {FeedbackCommand.RebuildCommand.class})
final class FeedbackCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "rebuild", mixinStandardHelpOptions = true,
            description = "Replay the newest policy version's ratings onto its base (or --base), with its own settings and "
                    + "seed and the same update boundaries, leaving out --exclude-rater; publish the result as the next "
                    + "version. The feedback role must not be running on this data dir.")
    static final class RebuildCommand implements Callable<Integer> {
        @Option(names = "--kafka", description = "Bootstrap servers (default: the embedded broker of --data-dir, running or not).")
        String kafka;

        @Option(names = "--data-dir", defaultValue = "millrace-data", description = "Where the policies are (default: ${DEFAULT-VALUE}).")
        Path dataDir;

        @Option(names = "--model-name", defaultValue = "millrace", description = "The policy's model (default: ${DEFAULT-VALUE}).")
        String model;

        @Option(names = "--base", description = "Replay onto this checkpoint instead of the lineage's base (a rebase).")
        Path base;

        @Option(names = "--exclude-rater", description = "Leave this rater's ratings out (repeatable): how a poisoner's influence is taken out.")
        List<String> exclude = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            try (BrokerAccess access = BrokerAccess.open(kafka, dataDir, "feedback-rebuild",
                    List.of(Topics.RATINGS, Topics.POLICY, Topics.SHARDS))) {
                long started = System.nanoTime();
                PolicyRebuilder.Outcome o = PolicyRebuilder.rebuild(access.settings(), dataDir, model, base, new HashSet<>(exclude));
                System.out.printf("version %d of %s: %d updates replayed, %d ratings applied, in %.1f s; %s%n", o.version(), model,
                        o.updates(), o.ratingsApplied(), (System.nanoTime() - started) / 1e9, o.metrics());
                System.out.println("checkpoint: " + o.checkpoint().toAbsolutePath());
            }
            return 0;
        }
    }
}
