package millrace.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import millrace.model.Sampler;
import millrace.web.Generator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Samples text from a checkpoint directory. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a checkpoint.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, description = "A checkpoint directory (…/checkpoints/<model>/step-…).")
    Path checkpoint;

    @Option(names = "--prompt", required = true, description = "The text to continue.")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "64", description = "New tokens at most (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "0 for greedy (default: ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--top-k", defaultValue = "40", description = "Sample among the k likeliest tokens; 0 for all (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "Nucleus sampling: draw from the likeliest tokens holding this share of probability; 1 for all (default: ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--seed", defaultValue = "1", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--chat", description = "Ask a chat model (one fine-tuned with ./millrace sft): the prompt is a user's turn, the answer the assistant's, ending at the end of its turn.")
    boolean chat;

    @Override
    public Integer call() throws Exception {
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1");
        try (Generator generator = Generator.load(checkpoint)) {
            // the text appears as it is generated: each token's new characters, once they are whole
            if (!chat) System.out.print(prompt); // a chat answer is not a continuation of the prompt
            System.out.flush();
            Generator.Answer a = generator.generate(prompt, new Sampler.Settings(maxTokens, temperature, topK, topP, seed), chat,
                    delta -> {
                        System.out.print(delta);
                        System.out.flush();
                    });
            System.out.println();
            System.err.printf("%d tokens in %.2f s (checkpoint step %d)%n", a.newTokens(), a.seconds(), a.checkpointStep());
        }
        return 0;
    }
}
