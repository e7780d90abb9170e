package millrace.feedback;

import millrace.model.CheckpointFormat;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import millrace.model.LanguageModel;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rating;
import millrace.raters.RaterTokens;
import millrace.tokenizer.ByteLevelBpe;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * A policy being learned, in memory: its weights and AdamW state, the frozen reference, the examples it may replay,
 * the held-out pairs it is measured on. {@link #update} is a deterministic function of this state and the records it
 * is given — the same lineage of updates from the same base with the same seed gives the same weights bit for bit,
 * whenever and however often it is replayed (a rebuild, a rebase, a restart).
 */
final class Policy implements AutoCloseable {
    private static final int REPLAY_BUFFER = 10_000;
    private static final int HELDOUT_PAIRS = 32;

    /**
     * The text a policy is measured and steadied on: prompts for its KL, held-out rows for its perplexity, pretraining
     * rows for the language-modelling loss mixed into its steps (each possibly empty), and where each row is in the
     * shards stream ({@code partition:offset:row}), so a lineage can read back the same.
     */
    record Text(List<String> klPrompts, List<int[]> validation, List<int[]> pretraining, List<String> validationRefs,
            List<String> pretrainingRefs) {
        static Text none() {
            return new Text(PolicyEvaluator.DEFAULT_PROMPTS, List.of(), List.of(), List.of(), List.of());
        }
    }

    /** Pretraining rows in each step's language-modelling loss. */
    private static final int MIX_ROWS = 4;

    /** What one update did, before anything is written; {@code trained}: the ratings now in the weights. */
    record Result(boolean applied, List<Rating> trained, List<FeedbackAudit.Entry> entries, Map<String, Double> metrics,
            String note) {}

    private final FeedbackSettings settings;
    private final ByteLevelBpe tokenizer;
    private final FeedbackTrainer trainer;
    private final PolicyEvaluator evaluator;
    private final Path base;
    private final Map<String, Double> baseMetrics;
    /** Examples trained on, oldest first (the newest {@link #REPLAY_BUFFER}). */
    private final List<Example> replay = new ArrayList<>();
    private final List<Example.Pair> heldout = new ArrayList<>();
    /**
     * Ids of the ratings consumed lately in this lineage: a second copy of one is a duplicate. (Two copies of a rating
     * come from two web replicas racing on one re-send, seconds apart; the window is a count, so every replay of the
     * lineage forgets the same ids.)
     */
    private final Set<String> seen = java.util.Collections.newSetFromMap(new LinkedHashMap<>(1024, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > 200_000;
        }
    });
    private final List<PolicyStore.Update> updates = new ArrayList<>();
    private long ratingsApplied;
    private Map<String, Double> metrics = Map.of();

    private final Text text;
    private final List<int[]> pretraining;

    private Policy(FeedbackSettings settings, ByteLevelBpe tokenizer, FeedbackTrainer trainer, Path base, Text text) {
        this.settings = settings;
        this.tokenizer = tokenizer;
        this.trainer = trainer;
        this.base = base;
        this.text = text;
        this.pretraining = text.pretraining();
        this.evaluator = new PolicyEvaluator(trainer, tokenizer, text.klPrompts(), text.validation(), settings.seed());
        this.baseMetrics = evaluator.reference();
    }

    /** A policy that is its base: the base's weights, a fresh optimizer, nothing learned yet. */
    static Policy fromBase(FeedbackSettings settings, Path base, Text text) throws IOException {
        return open(settings, base, base, text);
    }

    /** The policy of a version directory: its weights and optimizer state, its base as the reference. */
    static Policy fromVersion(FeedbackSettings settings, Path version, Path base, Text text) throws IOException {
        return open(settings, version, base, text);
    }

    private static Policy open(FeedbackSettings settings, Path weights, Path base, Text text) throws IOException {
        CheckpointFormat.Meta meta = CheckpointFormat.readMeta(weights);
        var root = ModelTrainer.newRootManager();
        ModelTrainer policy = null;
        try {
            TrainSettings trainSettings = trainSettings(settings, meta);
            // from the base: its weights with a fresh optimizer at step 0 (the base's training state is not the policy's)
            policy = weights.equals(base) ? new ModelTrainer(trainSettings, root, CheckpointFormat.loadModel(base, root), 0, 0)
                    : CheckpointStore.resume(weights, trainSettings, root);
            LanguageModel reference = CheckpointFormat.loadModel(base, root);
            ByteLevelBpe tokenizer = CheckpointFormat.loadTokenizer(weights);
            FeedbackTrainer trainer = new FeedbackTrainer(settings, millrace.sft.PromptFormat.of(weights), policy, reference);
            return new Policy(settings, tokenizer, trainer, base, text);
        } catch (IOException | RuntimeException e) {
            if (policy != null) policy.close();
            root.close();
            throw e;
        }
    }

    /** Preference steps take the model's shape from the checkpoint, a constant learning rate, no dropout. */
    private static TrainSettings trainSettings(FeedbackSettings s, CheckpointFormat.Meta meta) {
        var config = meta.config().withDropout(0f);
        var schedule = new millrace.model.LearningRateSchedule(s.learningRate(), s.learningRate(), 0, 1);
        // no weight decay: it would pull the policy towards zero, not towards the reference (TRL's DPO default too)
        var d = millrace.model.AdamW.Settings.defaults();
        return new TrainSettings(s.model(), config, meta.tokenizerId(), 1, schedule, 1.0f,
                new millrace.model.AdamW.Settings(d.beta1(), d.beta2(), d.epsilon(), 0f), s.seed(), 60, 2, 0);
    }

    Path base() {
        return base;
    }

    FeedbackSettings settings() {
        return settings;
    }

    Text text() {
        return text;
    }

    Map<String, Double> baseMetrics() {
        return baseMetrics;
    }

    List<PolicyStore.Update> updates() {
        return List.copyOf(updates);
    }

    long ratingsApplied() {
        return ratingsApplied;
    }

    Map<String, Double> metrics() {
        return metrics;
    }

    ByteLevelBpe tokenizer() {
        return tokenizer;
    }

    ModelTrainer trainer() {
        return trainer.policy();
    }

    /** The figures of the policy as it is (for its first version). */
    Map<String, Double> evaluate() {
        metrics = evaluator.evaluate(heldout, settings.beta());
        return metrics;
    }

    /** What the records of one update teach: audit entries for all, examples for the trainable ones. */
    private record Sorted(List<FeedbackAudit.Entry> entries, List<Example> fresh, List<Example.Pair> heldout,
            List<Rating> applied) {}

    private Sorted sort(List<ConsumerRecord<String, byte[]>> records, Set<String> excludedRaters) {
        List<FeedbackAudit.Entry> entries = new ArrayList<>();
        List<Example> fresh = new ArrayList<>();
        List<Example.Pair> held = new ArrayList<>();
        List<Rating> applied = new ArrayList<>();
        for (ConsumerRecord<String, byte[]> r : records) {
            Rating rating;
            try {
                rating = JsonSerde.ratings().fromBytes(r.value());
            } catch (InvalidPayloadException e) {
                entries.add(new FeedbackAudit.Entry(r.key() == null ? "-" : r.key(), r.partition(), r.offset(),
                        FeedbackAudit.Outcome.MALFORMED));
                continue;
            }
            FeedbackAudit.Outcome outcome;
            if (!rating.model().equals(settings.model())) {
                outcome = FeedbackAudit.Outcome.OTHER_MODEL;
            } else if (!seen.add(rating.id())) {
                outcome = FeedbackAudit.Outcome.DUPLICATE;
            } else if (excludedRaters.contains(rating.rater())) {
                outcome = FeedbackAudit.Outcome.EXCLUDED;
            } else {
                List<Example> taught = Example.of(rating);
                if (taught.isEmpty()) {
                    outcome = FeedbackAudit.Outcome.NO_PREFERENCE;
                } else if (heldOut(rating.id())) {
                    outcome = FeedbackAudit.Outcome.HELDOUT;
                    for (Example e : taught) if (e instanceof Example.Pair p) held.add(p);
                } else {
                    outcome = FeedbackAudit.Outcome.APPLIED;
                    fresh.addAll(taught);
                    applied.add(rating);
                }
            }
            entries.add(new FeedbackAudit.Entry(rating.id(), r.partition(), r.offset(), outcome));
        }
        return new Sorted(entries, fresh, held, applied);
    }

    /** Whether a rating is kept out of training: a fixed share of ids, by their hash (the same in every replay). */
    boolean heldOut(String ratingId) {
        if (settings.heldoutShare() == 0) return false;
        long h = Long.parseUnsignedLong(RaterTokens.sha256(ratingId).substring(0, 12), 16);
        return h % 10_000 < settings.heldoutShare() * 10_000;
    }

    /** Whether any of {@code records} gives a step something to learn from (not a tie, a held-out or a duplicate). */
    boolean teaches(List<ConsumerRecord<String, byte[]>> records, Set<String> excludedRaters) {
        for (ConsumerRecord<String, byte[]> r : records) {
            try {
                Rating rating = JsonSerde.ratings().fromBytes(r.value());
                if (rating.model().equals(settings.model()) && !seen.contains(rating.id()) && !heldOut(rating.id())
                        && !excludedRaters.contains(rating.rater()) && !Example.of(rating).isEmpty()) {
                    return true;
                }
            } catch (InvalidPayloadException e) {
                // teaches nothing
            }
        }
        return false;
    }

    /**
     * One update on the ratings of {@code records} (the log from {@code from} to {@code to}): {@code stepsPerUpdate}
     * steps, each on every new example and a replayed sample of earlier ones; then the safety figures. A version past
     * a bound is rolled back to the weights before the update. Nothing is written here.
     */
    Result update(List<ConsumerRecord<String, byte[]>> records, Map<String, Long> from, Map<String, Long> to,
            Set<String> excludedRaters) throws IOException {
        int index = updates.size(); // the update's place in the lineage: it, not the time, seeds its replay samples
        Sorted sorted = sort(records, excludedRaters);
        heldout.addAll(sorted.heldout());
        while (heldout.size() > HELDOUT_PAIRS) heldout.remove(0);
        int trained = sorted.applied().size();
        if (sorted.fresh().isEmpty()) {
            updates.add(new PolicyStore.Update(index, from, to, true, "nothing to learn"));
            metrics = evaluator.evaluate(heldout, settings.beta());
            return new Result(true, List.of(), sorted.entries(), metrics, "no rating to learn from");
        }
        Map<String, Double> figures;
        try (ModelTrainer.Snapshot before = trainer.policy().snapshot()) {
            FeedbackTrainer.StepStats last = null;
            boolean skipped = false;
            for (int step = 0; step < settings.stepsPerUpdate(); step++) {
                Random random = new Random(settings.seed() * 1_000_003L + index * 1_009L + step);
                last = trainer.step(batch(sorted.fresh(), random), mixRows(random));
                skipped |= last.skipped();
            }
            if (skipped) {
                // a step whose gradients were not finite made no update: the update is undone, its ratings not applied
                return rolledBack(before, sorted, index, from, to, Map.of(), "non-finite gradients");
            }
            figures = new LinkedHashMap<>(evaluator.evaluate(heldout, settings.beta()));
            figures.put("loss", (double) last.loss());
            if (!Double.isNaN(last.rewardMargin())) {
                figures.put("train_reward_margin", last.rewardMargin());
                figures.put("train_reward_accuracy", last.rewardAccuracy());
            }
            String crossed = crossedBound(figures);
            if (crossed != null) return rolledBack(before, sorted, index, from, to, figures, crossed);
        }
        replay.addAll(sorted.fresh());
        while (replay.size() > REPLAY_BUFFER) replay.remove(0);
        ratingsApplied += trained;
        updates.add(new PolicyStore.Update(index, from, to, true, trained + " ratings"));
        metrics = figures;
        return new Result(true, sorted.applied(), sorted.entries(), figures, trained + " ratings");
    }

    /** Undoes an update: the weights before it, its ratings audited as rolled back, the last good figures kept. */
    private Result rolledBack(ModelTrainer.Snapshot before, Sorted sorted, int index, Map<String, Long> from,
            Map<String, Long> to, Map<String, Double> rejected, String why) {
        trainer.policy().restore(before);
        List<FeedbackAudit.Entry> entries = sorted.entries().stream()
                .map(e -> e.outcome() == FeedbackAudit.Outcome.APPLIED ? e.as(FeedbackAudit.Outcome.ROLLED_BACK) : e)
                .toList();
        Map<String, Double> kept = new LinkedHashMap<>(metrics);
        rejected.forEach((k, v) -> kept.put("rejected_" + k, v));
        updates.add(new PolicyStore.Update(index, from, to, false, "rollback: " + why));
        metrics = kept;
        return new Result(false, List.of(), entries, kept, "rollback: " + why);
    }

    /**
     * The lineage of a version already learned, replayed without training (a restart: the weights come from the
     * version's checkpoint): what was seen, held out and trained on, so the next update continues exactly.
     */
    void remember(List<ConsumerRecord<String, byte[]>> records, PolicyStore.Update update, Set<String> excludedRaters) {
        Sorted sorted = sort(records, excludedRaters);
        heldout.addAll(sorted.heldout());
        while (heldout.size() > HELDOUT_PAIRS) heldout.remove(0);
        if (update.applied()) {
            replay.addAll(sorted.fresh());
            while (replay.size() > REPLAY_BUFFER) replay.remove(0);
            ratingsApplied += sorted.applied().size();
        }
        updates.add(update);
    }

    void restoreMetrics(Map<String, Double> m) {
        metrics = Map.copyOf(m);
    }

    /**
     * The step's examples: every new one, then a sample of earlier ones. No rater's new examples carry more than
     * {@code maxRaterShare} of the step: past it, their weights shrink (the loss is divided by the number of examples,
     * not by the weights, so a shrunk rater moves the policy less rather than the same).
     */
    private List<FeedbackTrainer.Weighted> batch(List<Example> fresh, Random random) {
        List<Example> sample = new ArrayList<>();
        if (!replay.isEmpty() && settings.replay() > 0) {
            List<Integer> picks = new ArrayList<>();
            for (int i = 0; i < replay.size(); i++) picks.add(i);
            java.util.Collections.shuffle(picks, random);
            for (int i = 0; i < Math.min(settings.replay(), picks.size()); i++) sample.add(replay.get(picks.get(i)));
        }
        List<FeedbackTrainer.Weighted> out = new ArrayList<>(weighted(fresh, fresh.size() + sample.size(), settings.maxRaterShare()));
        for (Example e : sample) out.add(new FeedbackTrainer.Weighted(e, 1f));
        return out;
    }

    /**
     * The new examples' weights in a step of {@code total} examples: 1, unless a rater's {@code n} new examples would
     * carry more than {@code maxShare} of the step's weight — then each of theirs weighs {@code w} such that {@code n·w
     * / (n·w + rest) = maxShare}, the rest being every other example of the step at its weight of 1. (AdamW normalises
     * a step's size, so what a rater can dominate is the direction: the share of weight is what the cap bounds.) A step
     * made only of one rater's examples — the very first update of a lone rater, with nothing to replay — has no one
     * to be bounded against, and keeps their weight.
     */
    static List<FeedbackTrainer.Weighted> weighted(List<Example> fresh, int total, float maxShare) {
        Map<String, Integer> perRater = new HashMap<>();
        for (Example e : fresh) perRater.merge(e.rater(), 1, Integer::sum);
        List<FeedbackTrainer.Weighted> out = new ArrayList<>();
        for (Example e : fresh) {
            int n = perRater.get(e.rater());
            int rest = total - n;
            float w = rest == 0 || maxShare >= 1 ? 1f : Math.min(1f, maxShare * rest / ((1 - maxShare) * n));
            out.add(new FeedbackTrainer.Weighted(e, w));
        }
        return out;
    }

    /** A few pretraining rows for the step's language-modelling loss (none when the mix is off or there are none). */
    private List<int[]> mixRows(Random random) {
        if (settings.pretrainMix() == 0 || pretraining.isEmpty()) return List.of();
        List<int[]> rows = new ArrayList<>();
        for (int i = 0; i < MIX_ROWS; i++) rows.add(pretraining.get(random.nextInt(pretraining.size())));
        return rows;
    }

    /** The bound a version's figures cross, described, or null. */
    private String crossedBound(Map<String, Double> figures) {
        double kl = figures.getOrDefault("kl", 0.0);
        if (!(kl <= settings.maxKl())) return String.format("KL %.3f > %.3f nats/token", kl, settings.maxKl());
        Double ppl = figures.get("perplexity");
        Double basePpl = baseMetrics.get("perplexity");
        if (ppl != null && basePpl != null && !(ppl <= basePpl * (1 + settings.maxPerplexityRise()))) {
            return String.format("perplexity %.2f > %.2f (base %.2f + %.0f%%)", ppl, basePpl * (1 + settings.maxPerplexityRise()),
                    basePpl, settings.maxPerplexityRise() * 100);
        }
        return null;
    }

    /** The checkpoint facts of a version: the trainer's format, its step being the version. */
    CheckpointFormat.Meta checkpointMeta(long version) {
        var config = trainer.policy().model().config();
        return new CheckpointFormat.Meta(settings.model(), config, tokenizer.id(), trainer.policy().step(),
                trainer.policy().tokensSeen(), metrics.getOrDefault("loss", Double.NaN).floatValue(), null,
                System.currentTimeMillis(), Map.of("policy_version", Long.toString(version)), settings.seed());
    }

    @Override
    public void close() {
        var root = trainer.policy().root();
        trainer.close();
        root.close();
    }
}
