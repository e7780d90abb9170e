package millrace.feedback;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import millrace.model.LanguageModel;
import millrace.model.Sampler;
import millrace.tokenizer.TextTokenizer;

/**
 * The safety figures of a policy version, measured in the loop:
 * <ul>
 *   <li>{@code kl}: KL(π ‖ π_ref) on fixed held-out prompts — the policy samples a continuation of each (fixed seeds),
 *       and at every position of it the two models' whole next-token distributions are compared exactly; nats per
 *       token, averaged ({@code kl_sequence}: per continuation);</li>
 *   <li>{@code perplexity}: on held-out validation rows of the pretraining stream;</li>
 *   <li>{@code reward_accuracy}, {@code reward_margin}: DPO's implicit reward on held-out rated pairs — how often, and
 *       by how much, the policy prefers what people preferred, relative to the reference.</li>
 * </ul>
 * Deterministic: the same weights give the same figures.
 */
final class PolicyEvaluator {
    /** Prompts for the KL when none are given: short openings, some in the sample corpus's style. */
    static final List<String> DEFAULT_PROMPTS = List.of("In the beginning", "And he said unto them", "What is", "Tell me");
    static final int KL_TOKENS = 16;

    private final FeedbackTrainer trainer;
    private final TextTokenizer tokenizer;
    private final List<String> prompts;
    private final List<int[]> validation;
    private final long seed;

    /**
     * @param validation held-out rows of token ids ({@code seq_len + 1} each), possibly none
     */
    PolicyEvaluator(FeedbackTrainer trainer, TextTokenizer tokenizer, List<String> prompts, List<int[]> validation,
            long seed) {
        this.trainer = trainer;
        this.tokenizer = tokenizer;
        this.prompts = prompts;
        this.validation = validation;
        this.seed = seed;
    }

    /** The reference's own figures, for the bounds: its perplexity. */
    Map<String, Double> reference() {
        Map<String, Double> out = new LinkedHashMap<>();
        if (!validation.isEmpty()) out.put("perplexity", perplexity(trainer.reference()));
        return out;
    }

    /** Every figure of the policy as it is now; {@code heldout}: rated pairs no step trained on. */
    Map<String, Double> evaluate(List<Example.Pair> heldout, float beta) {
        Map<String, Double> out = new LinkedHashMap<>();
        double[] kl = kl();
        out.put("kl", kl[0]);
        out.put("kl_sequence", kl[1]);
        if (!validation.isEmpty()) out.put("perplexity", perplexity(trainer.policy().model()));
        if (!heldout.isEmpty()) {
            double[] reward = implicitReward(heldout, beta);
            out.put("reward_margin", reward[0]);
            out.put("reward_accuracy", reward[1]);
        }
        return out;
    }

    /** [mean per-token KL, mean per-sequence KL] over the prompts' sampled continuations. */
    private double[] kl() {
        LanguageModel policy = trainer.policy().model();
        LanguageModel reference = trainer.reference();
        double tokens = 0;
        double total = 0;
        for (int i = 0; i < prompts.size(); i++) {
            int[] prompt = millrace.sft.PromptFormat.plainPrompt(tokenizer, prompts.get(i));
            int room = policy.config().contextLength() - prompt.length;
            if (room < 1) continue;
            int[] continuation = Sampler.generate(policy, prompt, new long[] {seed + i},
                    new Sampler.Settings(Math.min(KL_TOKENS, room), 1f, 0, 1f, seed + i),
                    millrace.sft.PromptFormat.plainStopTokens(tokenizer),
                    (row, token) -> { }, () -> false)[0];
            if (continuation.length == 0) continue;
            int[] ids = new int[prompt.length + continuation.length];
            System.arraycopy(prompt, 0, ids, 0, prompt.length);
            System.arraycopy(continuation, 0, ids, prompt.length, continuation.length);
            total += sequenceKl(policy, reference, ids, prompt.length);
            tokens += continuation.length;
        }
        int n = prompts.size();
        return new double[] {tokens == 0 ? 0 : total / tokens, n == 0 ? 0 : total / n};
    }

    /** Σ over the continuation's positions of KL(π(·|prefix) ‖ π_ref(·|prefix)), from the exact distributions. */
    private double sequenceKl(LanguageModel policy, LanguageModel reference, int[] ids, int promptLength) {
        long[] input = new long[ids.length - 1];
        for (int i = 0; i < input.length; i++) input[i] = ids[i];
        try (NDManager scope = trainer.policy().root().newSubManager()) {
            policy.attachTo(scope);
            reference.attachTo(scope);
            NDArray x = scope.create(input, new Shape(1, input.length));
            // positions promptLength-1 .. end predict the continuation's tokens
            String continuation = "0, " + (promptLength - 1) + ":, :";
            NDArray p = policy.forward(x, false).stopGradient().get(continuation).logSoftmax(-1);
            NDArray q = reference.forward(x, false).stopGradient().get(continuation).logSoftmax(-1);
            return p.exp().mul(p.sub(q)).sum().getFloat();
        }
    }

    private double perplexity(LanguageModel gpt) {
        double loss = 0;
        int t = validation.get(0).length - 1;
        for (int[] row : validation) {
            long[] ids = new long[row.length];
            for (int i = 0; i < row.length; i++) ids[i] = row[i];
            try (NDManager scope = trainer.policy().root().newSubManager()) {
                gpt.attachTo(scope);
                NDArray all = scope.create(ids, new Shape(1, ids.length));
                loss += LanguageModel.loss(gpt.forward(all.get(":, 0:" + t), false).stopGradient(), all.get(":, 1:")).getFloat();
            }
        }
        return Math.exp(loss / validation.size());
    }

    /** [mean implicit-reward margin, share of pairs with a positive margin]. */
    private double[] implicitReward(List<Example.Pair> pairs, float beta) {
        List<millrace.sft.ScoredSequence> sequences = new ArrayList<>();
        for (Example.Pair p : pairs) sequences.add(trainer.sequence(p.prompt(), p.chosen()));
        for (Example.Pair p : pairs) sequences.add(trainer.sequence(p.prompt(), p.rejected()));
        // both scored the same way (batched), so that a policy equal to its reference has a margin of exactly 0
        float[] policy = trainer.logProbs(trainer.policy().model(), sequences);
        float[] reference = trainer.logProbs(trainer.reference(), sequences);
        int n = pairs.size();
        double margins = 0;
        int correct = 0;
        for (int i = 0; i < n; i++) {
            double margin = beta * ((policy[i] - reference[i]) - (policy[n + i] - reference[n + i]));
            margins += margin;
            if (margin > 0) correct++;
        }
        return new double[] {margins / n, (double) correct / n};
    }
}
