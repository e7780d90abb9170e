package millrace.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code ./millrace <command>}: the entry point. Bad arguments exit non-zero with a one-line reason. */
@Command(name = "millrace", mixinStandardHelpOptions = true, version = "millrace 0.1.0",
        description = "A streaming foundry for language models: ingest, dedup, tokenize, train, serve.",
        subcommands = {UpCommand.class, RunCommand.class, BrokerCommand.class, IngestCommand.class, TrainCommand.class, SftCommand.class, ExtractCommand.class, DedupCommand.class, TokenizerCommand.class, GenerateCommand.class, EvalCommand.class, ExportCommand.class, ImportCommand.class, RatersCommand.class, FeedbackCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        if (System.getProperty("ai.djl.offline") == null) System.setProperty("ai.djl.offline", "true");
        System.exit(commandLine().execute(args));
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("millrace: " + ex.getMessage() + " (see '" + ex.getCommandLine().getCommandSpec().qualifiedName()
                    + " --help')");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable root = ex;
            while (root.getCause() != null && root.getMessage() == null) root = root.getCause();
            cmd.getErr().println("millrace: " + (root.getMessage() != null ? root.getMessage() : root.toString()));
            return 1;
        });
        return cl;
    }
}
