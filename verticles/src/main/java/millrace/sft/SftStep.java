package millrace.sft;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import millrace.model.GradientLane;
import millrace.model.Scalars;
import millrace.train.ModelTrainer;

/**
 * One supervised fine-tuning step: the negative log-likelihood of every scored (assistant) token of the batch,
 * averaged over those tokens (as TRL's SFTTrainer averages), through the process's gradient lane; then the trainer's
 * optimizer step. Examples are packed back to back into rows of the model's context, or each is its own row padded to
 * the batch's longest ({@code packed} false); either way no example attends to another.
 */
public final class SftStep {
    /** What a step did. */
    public record Result(float loss, int scoredTokens, int tokens, float gradNorm, float learningRate, boolean skipped) {}

    /** Scored positions per forward pass: their logits, log-softmax and its gradient within 256 MB. */
    private static final long LOGITS_BUDGET_BYTES = 256L << 20;

    private SftStep() {}

    public static Result step(ModelTrainer trainer, List<ScoredSequence> batch, boolean packed) {
        int scored = batch.stream().mapToInt(ScoredSequence::scoredCount).sum();
        int tokens = batch.stream().mapToInt(s -> s.ids().length - 1).sum();
        double loss = 0;
        try (GradientLane.Pass lane = GradientLane.open()) {
            for (List<ScoredSequence> part : passes(batch, trainer.model().config().vocabSize())) {
                try (NDManager scope = trainer.root().newSubManager()) {
                    trainer.model().attachTo(scope);
                    NDArray partLoss = Scalars.over(ScoredSequence.logProbSums(trainer.model(), part,
                            layout(part, packed, trainer.model().config().contextLength()), scope).sum().neg(), scored);
                    lane.backward(partLoss);
                    loss += partLoss.getFloat();
                }
            }
        }
        ModelTrainer.Update update = trainer.applyGradients((float) loss, tokens);
        return new Result((float) loss, scored, tokens, update.gradNorm(), update.learningRate(), update.skipped());
    }

    /** The mean negative log-likelihood of the scored tokens, without gradients (held-out evaluation). */
    public static double loss(millrace.model.LanguageModel gpt, NDManager root, List<ScoredSequence> examples, boolean packed) {
        double nll = 0;
        long scored = 0;
        for (List<ScoredSequence> part : passes(examples, gpt.config().vocabSize())) {
            try (NDManager scope = root.newSubManager()) {
                gpt.attachTo(scope);
                nll -= ScoredSequence.logProbSums(gpt, part, layout(part, packed, gpt.config().contextLength()), scope)
                        .stopGradient().sum().getFloat();
                scored += part.stream().mapToInt(ScoredSequence::scoredCount).sum();
            }
        }
        return nll / Math.max(1, scored);
    }

    static ScoredSequence.Layout layout(List<ScoredSequence> part, boolean packed, int blockSize) {
        return packed ? ScoredSequence.Layout.packed(part, blockSize) : ScoredSequence.Layout.padded(part);
    }

    /** Consecutive rows, as many as one pass's budget of scored positions holds (at least one row). */
    static List<List<ScoredSequence>> passes(List<ScoredSequence> batch, int vocabSize) {
        long budget = Math.max(1, LOGITS_BUDGET_BYTES / ((long) vocabSize * 4 * 3));
        List<List<ScoredSequence>> out = new ArrayList<>();
        List<ScoredSequence> current = new ArrayList<>();
        long positions = 0;
        for (ScoredSequence s : batch) {
            if (!current.isEmpty() && positions + s.scoredCount() > budget) {
                out.add(current);
                current = new ArrayList<>();
                positions = 0;
            }
            current.add(s);
            positions += s.scoredCount();
        }
        if (!current.isEmpty()) out.add(current);
        return out;
    }
}
