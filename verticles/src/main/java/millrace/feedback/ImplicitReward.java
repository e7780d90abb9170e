package millrace.feedback;

import millrace.model.CheckpointFormat;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import millrace.model.LanguageModel;
import millrace.sft.PromptFormat;
import millrace.sft.ScoredSequence;
import millrace.train.ModelTrainer;

/**
 * DPO's implicit reward of a policy checkpoint against its reference on preference pairs, from outside the feedback
 * role ({@code bench feedback} measures held-out prompts with it): {@code β·[(log π(y⁺) - log π_ref(y⁺)) - (log π(y⁻)
 * - log π_ref(y⁻))]} per pair.
 */
public final class ImplicitReward {
    /** A prompt, the answer preferred and the other. */
    public record Pair(String prompt, String chosen, String rejected) {}

    /** The mean margin, the share of pairs with a positive one, and each pair's margin. */
    public record Result(double margin, double accuracy, int pairs, double[] margins) {}

    private ImplicitReward() {}

    public static Result of(Path policy, Path reference, List<Pair> pairs, float beta) throws IOException {
        try (NDManager root = ModelTrainer.newRootManager()) {
            LanguageModel p = CheckpointFormat.loadModel(policy, root);
            LanguageModel r = CheckpointFormat.loadModel(reference, root);
            PromptFormat format = PromptFormat.of(policy);
            List<ScoredSequence> sequences = new ArrayList<>();
            for (Pair pair : pairs) sequences.add(format.answer(pair.prompt(), pair.chosen(), p.config().contextLength()));
            for (Pair pair : pairs) sequences.add(format.answer(pair.prompt(), pair.rejected(), p.config().contextLength()));
            float[] lp = sums(p, sequences, root);
            float[] lr = sums(r, sequences, root);
            int n = pairs.size();
            double sum = 0;
            int correct = 0;
            double[] margins = new double[n];
            for (int i = 0; i < n; i++) {
                margins[i] = beta * ((lp[i] - lr[i]) - (lp[n + i] - lr[n + i]));
                sum += margins[i];
                if (margins[i] > 0) correct++;
            }
            return new Result(n == 0 ? Double.NaN : sum / n, n == 0 ? Double.NaN : (double) correct / n, n, margins);
        }
    }

    private static float[] sums(LanguageModel gpt, List<ScoredSequence> sequences, NDManager root) {
        float[] out = new float[sequences.size()];
        for (int from = 0; from < sequences.size(); from += 8) {
            List<ScoredSequence> part = sequences.subList(from, Math.min(sequences.size(), from + 8));
            try (NDManager scope = root.newSubManager()) {
                gpt.attachTo(scope);
                float[] s = ScoredSequence.logProbSums(gpt, part, scope).stopGradient().toFloatArray();
                System.arraycopy(s, 0, out, from, s.length);
            }
        }
        return out;
    }
}
