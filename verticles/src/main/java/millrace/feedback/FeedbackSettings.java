package millrace.feedback;

import java.nio.file.Path;

/**
 * How the feedback role learns from ratings, and the bounds it keeps the policy within. Every field is an option of
 * {@code up}, {@code run} and {@code feedback rebuild} (see {@code --help}).
 *
 * @param model the pretraining model whose checkpoints are the base; the policy is published under the same name
 * @param base a base checkpoint directory, or null for the model's newest checkpoint when the first rating arrives
 * @param beta DPO's and KTO's β: how far the policy may move from the reference for a given preference
 * @param labelSmoothing conservative DPO's ε: the share of pairwise ratings assumed wrong
 * @param ktoDesirableWeight KTO's λ_D
 * @param ktoUndesirableWeight KTO's λ_U
 * @param sftWeight weight of an edited answer's SFT loss next to the preference losses
 * @param pretrainMix weight of the language-modelling loss on a few pretraining rows in every step (InstructGPT's
 *     "PPO-ptx"): it keeps the policy's perplexity near the base's while preferences move it
 * @param learningRate AdamW's (constant) learning rate for preference steps
 * @param stepsPerUpdate optimizer steps per update (each on the new ratings and a replayed sample)
 * @param maxUpdateRatings ratings taken into one update at most (more wait for the next)
 * @param replay earlier examples replayed in every step, so that the policy does not forget
 * @param maxWaitMillis after a rating arrives, how long to wait for more before updating
 * @param maxRaterShare the largest share of one update's weight a single rater's new ratings may carry
 * @param heldoutShare share of ratings kept out of training, to measure the implicit reward's accuracy
 * @param maxKl a version whose KL to the reference (nats per token, on the held-out prompts) exceeds this is rolled back
 * @param maxPerplexityRise a version whose held-out perplexity exceeds the base's by more than this share is rolled back
 * @param rebaseEvery replay the ratings onto the newest pretraining checkpoint every this many new checkpoints (0: never)
 * @param seed the seed of the replay samples and of the KL samples: with the ratings log and the base, the policy
 * @param keepVersions policy checkpoints kept on disk (the newest, and always the last good one)
 */
public record FeedbackSettings(String model, Path base, float beta, float labelSmoothing, float ktoDesirableWeight,
        float ktoUndesirableWeight, float sftWeight, float pretrainMix, float learningRate, int stepsPerUpdate, int maxUpdateRatings,
        int replay, long maxWaitMillis, float maxRaterShare, float heldoutShare, float maxKl, float maxPerplexityRise,
        int rebaseEvery, long seed, int keepVersions) {

    public FeedbackSettings {
        if (model == null || model.isBlank()) throw new IllegalArgumentException("the policy needs a model name");
        if (!(beta > 0)) throw new IllegalArgumentException("--beta must be > 0");
        if (!(labelSmoothing >= 0 && labelSmoothing < 0.5)) throw new IllegalArgumentException("--label-smoothing must be in [0, 0.5)");
        if (!(ktoDesirableWeight > 0 && ktoUndesirableWeight > 0)) throw new IllegalArgumentException("KTO weights must be > 0");
        if (!(sftWeight >= 0)) throw new IllegalArgumentException("--sft-weight must be >= 0");
        if (!(pretrainMix >= 0)) throw new IllegalArgumentException("--pretrain-mix must be >= 0");
        if (!(learningRate > 0)) throw new IllegalArgumentException("--feedback-lr must be > 0");
        if (stepsPerUpdate < 1 || maxUpdateRatings < 1 || replay < 0) {
            throw new IllegalArgumentException("--feedback-steps and --max-update-ratings must be >= 1, --replay >= 0");
        }
        if (maxWaitMillis < 0) throw new IllegalArgumentException("--max-wait-ms must be >= 0");
        if (!(maxRaterShare > 0 && maxRaterShare <= 1)) throw new IllegalArgumentException("--max-rater-share must be in (0, 1]");
        if (!(heldoutShare >= 0 && heldoutShare < 1)) throw new IllegalArgumentException("--heldout-share must be in [0, 1)");
        if (!(maxKl > 0 && maxPerplexityRise > 0)) throw new IllegalArgumentException("--max-kl and --max-perplexity-rise must be > 0");
        if (rebaseEvery < 0 || keepVersions < 2) throw new IllegalArgumentException("--rebase-every >= 0, --keep-versions >= 2");
    }

    /**
     * What the lineage of {@code stored} was learned with, and how this process runs it (its base for a new policy,
     * how many ratings an update takes and how long it waits, when it rebases, the versions it keeps): a restart
     * continues a lineage as it began, whatever the command line says about learning — and on the base it began on: one
     * chosen with {@code --base} stays chosen (no rebasing onto pretraining checkpoints); {@code feedback rebuild --base}
     * is how a lineage moves to another.
     */
    public FeedbackSettings continuing(FeedbackSettings stored) {
        return new FeedbackSettings(model, stored.base, stored.beta, stored.labelSmoothing, stored.ktoDesirableWeight,
                stored.ktoUndesirableWeight, stored.sftWeight, stored.pretrainMix, stored.learningRate, stored.stepsPerUpdate,
                maxUpdateRatings, stored.replay, maxWaitMillis, stored.maxRaterShare, stored.heldoutShare, stored.maxKl,
                stored.maxPerplexityRise, rebaseEvery, stored.seed, keepVersions);
    }

    /** The fields that decide what a lineage learns (equal between two settings: the same lineage, the same weights). */
    boolean learnsLike(FeedbackSettings o) {
        return beta == o.beta && labelSmoothing == o.labelSmoothing && ktoDesirableWeight == o.ktoDesirableWeight
                && ktoUndesirableWeight == o.ktoUndesirableWeight && sftWeight == o.sftWeight && pretrainMix == o.pretrainMix
                && learningRate == o.learningRate && stepsPerUpdate == o.stepsPerUpdate && replay == o.replay
                && maxRaterShare == o.maxRaterShare && heldoutShare == o.heldoutShare && maxKl == o.maxKl
                && maxPerplexityRise == o.maxPerplexityRise && seed == o.seed;
    }

    /**
     * The defaults: β 0.3 (TRL's default is 0.1; on {@code bench feedback} 0.3 separated held-out pairs better for the
     * same drift), TRL's KTO weights, one small step per update, a rollback past 10% perplexity.
     */
    public static FeedbackSettings defaults(String model) {
        return new FeedbackSettings(model, null, 0.3f, 0f, 1f, 1f, 1f, 1f, 1e-4f, 1, 16, 8, 200, 0.5f, 0.1f, 0.5f, 0.1f,
                10, 1337, 5);
    }
}
