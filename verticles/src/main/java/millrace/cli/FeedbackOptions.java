package millrace.cli;

import java.nio.file.Path;
import millrace.feedback.FeedbackSettings;
import picocli.CommandLine.Option;

/** How the feedback role learns from ratings (the policy is published under the train options' --model-name). */
final class FeedbackOptions {
    private static final FeedbackSettings D = FeedbackSettings.defaults("millrace");

    @Option(names = "--base", description = "Base of the policy: a checkpoint, or a Hugging Face model directory "
            + "(LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, GPT2LMHeadModel); under up and run, the train and "
            + "tokenize roles then continue it in its own tokenizer (default: the model's newest checkpoint when the first "
            + "rating arrives).")
    Path base;

    @Option(names = "--beta", description = "DPO's and KTO's beta: how far a preference may move the policy from the reference (default: 0.3).")
    float beta = D.beta();

    @Option(names = "--label-smoothing", description = "Conservative DPO: the share of pairwise ratings assumed wrong (default: 0).")
    float labelSmoothing = D.labelSmoothing();

    @Option(names = "--kto-desirable-weight", description = "KTO's lambda_D, the weight of desirable answers (default: 1).")
    float ktoDesirable = D.ktoDesirableWeight();

    @Option(names = "--kto-undesirable-weight", description = "KTO's lambda_U, the weight of undesirable answers (default: 1).")
    float ktoUndesirable = D.ktoUndesirableWeight();

    @Option(names = "--sft-weight", description = "Weight of an edited answer's SFT loss next to the preference losses (default: 1).")
    float sftWeight = D.sftWeight();

    @Option(names = "--pretrain-mix", description = "Weight of the language-modelling loss on a few pretraining rows in every preference step: keeps perplexity near the base's (default: 1).")
    float pretrainMix = D.pretrainMix();

    @Option(names = "--feedback-lr", description = "AdamW's constant learning rate for preference steps (default: 1e-4).")
    float learningRate = D.learningRate();

    @Option(names = "--feedback-steps", description = "Optimizer steps per update (default: 1).")
    int steps = D.stepsPerUpdate();

    @Option(names = "--max-update-ratings", description = "Ratings in one update at most; more wait for the next (default: 16).")
    int maxUpdateRatings = D.maxUpdateRatings();

    @Option(names = "--replay", description = "Earlier examples replayed in every step, so the policy does not forget (default: 8).")
    int replay = D.replay();

    @Option(names = "--max-wait-ms", description = "After a rating arrives, how long to wait for more before updating (default: 200).")
    long maxWaitMillis = D.maxWaitMillis();

    @Option(names = "--max-rater-share", description = "The largest share of one update's weight a single rater's new ratings carry (default: 0.5).")
    float maxRaterShare = D.maxRaterShare();

    @Option(names = "--heldout-share", description = "Share of ratings kept out of training to measure the implicit reward on (default: 0.1).")
    float heldoutShare = D.heldoutShare();

    @Option(names = "--max-kl", description = "Roll back a version whose KL to the reference on held-out prompts exceeds this, nats/token (default: 0.5).")
    float maxKl = D.maxKl();

    @Option(names = "--max-perplexity-rise", description = "Roll back a version whose held-out perplexity rises above the base's by more than this share (default: 0.1).")
    float maxPerplexityRise = D.maxPerplexityRise();

    @Option(names = "--rebase-every", description = "Replay the ratings onto the newest pretraining checkpoint every this many new checkpoints; 0 never (default: 10).")
    int rebaseEvery = D.rebaseEvery();

    @Option(names = "--feedback-seed", description = "Seed of the replay and KL samples: with the base and the ratings log, it determines the policy (default: 1337).")
    long seed = D.seed();

    @Option(names = "--keep-versions", description = "Policy versions kept on disk (default: 5).")
    int keepVersions = D.keepVersions();

    FeedbackSettings settings(String model) {
        return new FeedbackSettings(model, base, beta, labelSmoothing, ktoDesirable, ktoUndesirable, sftWeight,
                pretrainMix, learningRate, steps, maxUpdateRatings, replay, maxWaitMillis, maxRaterShare, heldoutShare, maxKl,
                maxPerplexityRise, rebaseEvery, seed, keepVersions);
    }
}
