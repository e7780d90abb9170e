package millrace.feedback;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import millrace.model.LanguageModel;
import millrace.model.GradientLane;
import millrace.model.Scalars;
import millrace.sft.PromptFormat;
import millrace.sft.ScoredSequence;
import millrace.train.ModelTrainer;

/**
 * Preference steps on a policy against its frozen reference: DPO on pairs, KTO on judged answers, the SFT loss on
 * demonstrations, all in one weighted loss per step. The policy's weights and AdamW state are a {@link ModelTrainer}'s,
 * so a policy checkpoint is a trainer checkpoint. Deterministic: the same examples in the same order give the same
 * weights (the rebuild relies on it).
 */
final class FeedbackTrainer implements AutoCloseable {
    /** An example and its weight in the step (a rater's share of the update is capped through the weights). */
    record Weighted(Example example, float weight) {}

    /** What one step did; reward margin and accuracy are DPO's implicit reward on the step's pairs. */
    record StepStats(float loss, float gradNorm, int pairs, int judged, int demonstrations, double rewardMargin,
            double rewardAccuracy, boolean skipped) {}

    private static final long LOGITS_BUDGET_BYTES = 256L << 20;
    private static final int MAX_SEQUENCES = 32;

    private final FeedbackSettings settings;
    private final PromptFormat format;
    private final ModelTrainer policy;
    private final LanguageModel reference;
    /** Scored positions per forward pass: their logits, log-softmax and its gradient within a fixed budget. */
    private final int positionsPerPass;
    /**
     * The frozen reference's log-probability of each sequence, computed once, alone (no padding: the same value
     * whatever batch the sequence is in, so replays of a lineage see the same numbers).
     */
    private final java.util.Map<String, Float> referenceCache = new java.util.LinkedHashMap<>(1024, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<String, Float> eldest) {
            return size() > 100_000;
        }
    };

    FeedbackTrainer(FeedbackSettings settings, PromptFormat format, ModelTrainer policy, LanguageModel reference) {
        this.settings = settings;
        this.format = format;
        this.policy = policy;
        this.reference = reference;
        this.positionsPerPass = (int) Math.max(policy.model().config().contextLength() + 1,
                LOGITS_BUDGET_BYTES / ((long) policy.model().config().vocabSize() * 4 * 3));
    }

    ModelTrainer policy() {
        return policy;
    }

    LanguageModel reference() {
        return reference;
    }

    /** An answer to a prompt, in the model's format (a chat model's turns, or plain continuation). */
    ScoredSequence sequence(String prompt, String answer) {
        return format.answer(prompt, answer, policy.model().config().contextLength());
    }

    /**
     * One optimizer step on {@code batch}: every example's loss times its weight, summed, over the number of examples
     * (not over the weights: an example whose weight was shrunk moves the policy less).
     */
    StepStats step(List<Weighted> batch, List<int[]> pretrainingRows) {
        double totalWeight = batch.size();
        float z0 = ktoReferencePoint(batch);
        List<Chunk> chunks = chunks(batch);
        // the frozen reference's side first, outside the gradient lane: the train role may be waiting for the lane
        for (Chunk c : chunks) c.reference = referenceLogProbs(c.sequences);
        double loss = 0;
        double margins = 0;
        int correct = 0;
        int pairs = 0;
        int judged = 0;
        int demos = 0;
        long tokens = 0;
        try (GradientLane.Pass lane = GradientLane.open()) {
            for (Chunk c : chunks) {
                try (NDManager scope = policy.root().newSubManager()) {
                    policy.model().attachTo(scope);
                    NDArray logProbs = ScoredSequence.logProbSums(policy.model(), c.sequences, scope);
                    NDArray refLogProbs = scope.create(c.reference);
                    NDArray chunkLoss = Scalars.over(c.losses(logProbs, refLogProbs, z0, scope).sum(), (float) totalWeight);
                    lane.backward(chunkLoss);
                    loss += chunkLoss.getFloat();
                    if (c.pairs > 0) {
                        for (float x : c.margins(logProbs.stopGradient(), refLogProbs)) {
                            margins += x;
                            if (x > 0) correct++;
                        }
                    }
                    pairs += c.pairs;
                    judged += c.judged;
                    demos += c.demos;
                    tokens += c.sequences.stream().mapToLong(s -> s.ids().length - 1).sum();
                }
            }
            if (!pretrainingRows.isEmpty()) {
                // the pretraining mix: the language-modelling loss on a few rows of the pretraining stream
                try (NDManager scope = policy.root().newSubManager()) {
                    policy.model().attachTo(scope);
                    int t = pretrainingRows.get(0).length - 1;
                    long[] flat = pretrainingRows.stream().flatMapToInt(java.util.Arrays::stream).asLongStream().toArray();
                    NDArray rows = scope.create(flat, new ai.djl.ndarray.types.Shape(pretrainingRows.size(), t + 1));
                    NDArray lm = LanguageModel.loss(policy.model().forward(rows.get(":, 0:" + t), false), rows.get(":, 1:"));
                    NDArray mixed = Scalars.times(lm, settings.pretrainMix());
                    lane.backward(mixed);
                    loss += mixed.getFloat();
                    tokens += (long) pretrainingRows.size() * t;
                }
            }
        }
        ModelTrainer.Update update = policy.applyGradients((float) loss, tokens);
        return new StepStats((float) loss, update.gradNorm(), pairs, judged, demos,
                pairs == 0 ? Double.NaN : margins / pairs, pairs == 0 ? Double.NaN : (double) correct / pairs,
                update.skipped());
    }

    /**
     * KTO's reference point for this batch: each judged answer scored after the prompt of the next judged example of
     * another rating (the two answers of one "both bad" share a prompt: a pair of them would be matched, not
     * mismatched), under the policy and the reference, without gradients.
     */
    private float ktoReferencePoint(List<Weighted> batch) {
        List<Example.Judged> judged = new ArrayList<>();
        for (Weighted w : batch) if (w.example() instanceof Example.Judged j) judged.add(j);
        List<ScoredSequence> mismatched = new ArrayList<>();
        for (int i = 0; i < judged.size(); i++) {
            for (int k = 1; k < judged.size(); k++) {
                Example.Judged other = judged.get((i + k) % judged.size());
                if (!other.ratingId().equals(judged.get(i).ratingId())) {
                    mismatched.add(sequence(other.prompt(), judged.get(i).answer()));
                    break;
                }
            }
        }
        if (mismatched.isEmpty()) return 0f;
        return PreferenceLosses.ktoReferencePoint(logProbs(policy.model(), mismatched), referenceLogProbs(mismatched));
    }

    /** The reference's summed answer log-probabilities, each computed alone once and remembered. */
    float[] referenceLogProbs(List<ScoredSequence> sequences) {
        float[] out = new float[sequences.size()];
        for (int i = 0; i < out.length; i++) {
            ScoredSequence s = sequences.get(i);
            String key = java.util.Arrays.toString(s.scored()) + java.util.Arrays.toString(s.ids());
            Float known = referenceCache.get(key);
            if (known == null) {
                known = logProbs(reference, List.of(s))[0];
                referenceCache.put(key, known);
            }
            out[i] = known;
        }
        return out;
    }

    /** Summed answer log-probabilities without gradients, as many sequences at a time as a pass holds. */
    float[] logProbs(LanguageModel gpt, List<ScoredSequence> sequences) {
        float[] out = new float[sequences.size()];
        int from = 0;
        while (from < sequences.size()) {
            int to = from;
            int positions = 0;
            while (to < sequences.size() && to - from < MAX_SEQUENCES
                    && (to == from || positions + sequences.get(to).scoredCount() <= positionsPerPass)) {
                positions += sequences.get(to++).scoredCount();
            }
            try (NDManager scope = policy.root().newSubManager()) {
                gpt.attachTo(scope);
                float[] sums = ScoredSequence.logProbSums(gpt, sequences.subList(from, to), scope).stopGradient().toFloatArray();
                System.arraycopy(sums, 0, out, from, sums.length);
            }
            from = to;
        }
        return out;
    }

    /** Consecutive examples, as many as fit one forward pass (a pair is two sequences), each tokenised once. */
    private List<Chunk> chunks(List<Weighted> batch) {
        List<Chunk> out = new ArrayList<>();
        List<Weighted> current = new ArrayList<>();
        List<List<ScoredSequence>> currentSequences = new ArrayList<>();
        int seqs = 0;
        int positions = 0;
        for (Weighted w : batch) {
            List<ScoredSequence> own = sequences(w.example());
            int n = own.size();
            int p = own.stream().mapToInt(ScoredSequence::scoredCount).sum();
            if (!current.isEmpty() && (seqs + n > MAX_SEQUENCES || positions + p > positionsPerPass)) {
                out.add(new Chunk(current, currentSequences));
                current = new ArrayList<>();
                currentSequences = new ArrayList<>();
                seqs = 0;
                positions = 0;
            }
            current.add(w);
            currentSequences.add(own);
            seqs += n;
            positions += p;
        }
        if (!current.isEmpty()) out.add(new Chunk(current, currentSequences));
        return out;
    }

    /** An example's sequences: a pair's chosen then rejected answer; a judged or demonstrated answer. */
    private List<ScoredSequence> sequences(Example e) {
        if (e instanceof Example.Pair p) return List.of(sequence(p.prompt(), p.chosen()), sequence(p.prompt(), p.rejected()));
        if (e instanceof Example.Judged j) return List.of(sequence(j.prompt(), j.answer()));
        Example.Demonstration d = (Example.Demonstration) e;
        return List.of(sequence(d.prompt(), d.answer()));
    }

    /**
     * One forward pass's examples as sequences — pairs' chosen answers, then their rejected ones, then judged answers,
     * then demonstrations — and their weighted losses.
     */
    private final class Chunk {
        final List<ScoredSequence> sequences = new ArrayList<>();
        final int pairs;
        final int judged;
        final int demos;
        private final float[] pairWeights;
        private final float[] judgedWeights;
        private final float[] desirable;
        private final float[] demoWeights;
        private final float[] demoTokens;

        /** The reference's log-probabilities of {@link #sequences}, once computed. */
        float[] reference;

        Chunk(List<Weighted> chunk, List<List<ScoredSequence>> own) {
            List<Weighted> p = new ArrayList<>();
            List<Weighted> j = new ArrayList<>();
            List<Weighted> d = new ArrayList<>();
            List<ScoredSequence> chosen = new ArrayList<>();
            List<ScoredSequence> rejected = new ArrayList<>();
            List<ScoredSequence> judgedSeqs = new ArrayList<>();
            List<ScoredSequence> demoSeqs = new ArrayList<>();
            for (int i = 0; i < chunk.size(); i++) {
                Weighted w = chunk.get(i);
                if (w.example() instanceof Example.Pair) {
                    p.add(w);
                    chosen.add(own.get(i).get(0));
                    rejected.add(own.get(i).get(1));
                } else if (w.example() instanceof Example.Judged) {
                    j.add(w);
                    judgedSeqs.add(own.get(i).get(0));
                } else {
                    d.add(w);
                    demoSeqs.add(own.get(i).get(0));
                }
            }
            pairs = p.size();
            judged = j.size();
            demos = d.size();
            sequences.addAll(chosen);
            sequences.addAll(rejected);
            sequences.addAll(judgedSeqs);
            sequences.addAll(demoSeqs);
            demoTokens = new float[demos];
            for (int i = 0; i < demos; i++) demoTokens[i] = demoSeqs.get(i).scoredCount();
            pairWeights = weights(p, 1f);
            judgedWeights = weights(j, 1f);
            demoWeights = weights(d, settings.sftWeight());
            desirable = new float[judged];
            for (int i = 0; i < judged; i++) desirable[i] = ((Example.Judged) j.get(i).example()).desirable() ? 1f : 0f;
        }

        private static float[] weights(List<Weighted> ws, float factor) {
            float[] out = new float[ws.size()];
            for (int i = 0; i < out.length; i++) out[i] = ws.get(i).weight() * factor;
            return out;
        }

        /** Every example's loss times its weight, one after the other: {@code [pairs + judged + demonstrations]}. */
        NDArray losses(NDArray logProbs, NDArray refLogProbs, float z0, NDManager scope) {
            List<NDArray> parts = new ArrayList<>();
            int at = 0;
            if (pairs > 0) {
                NDArray dpo = PreferenceLosses.dpo(logProbs.get(at + ":" + (at + pairs)),
                        logProbs.get((at + pairs) + ":" + (at + 2 * pairs)), refLogProbs.get(at + ":" + (at + pairs)),
                        refLogProbs.get((at + pairs) + ":" + (at + 2 * pairs)), settings.beta(), settings.labelSmoothing());
                parts.add(dpo.mul(scope.create(pairWeights)));
                at += 2 * pairs;
            }
            if (judged > 0) {
                NDArray kto = PreferenceLosses.kto(logProbs.get(at + ":" + (at + judged)),
                        refLogProbs.get(at + ":" + (at + judged)), scope.create(desirable), z0, settings.beta(),
                        settings.ktoDesirableWeight(), settings.ktoUndesirableWeight());
                parts.add(kto.mul(scope.create(judgedWeights)));
                at += judged;
            }
            if (demos > 0) {
                // the SFT loss, the same as ./millrace sft trains with
                NDArray sft = ScoredSequence.sftLoss(logProbs.get(at + ":" + (at + demos)), scope.create(demoTokens));
                parts.add(sft.mul(scope.create(demoWeights)));
            }
            return parts.size() == 1 ? parts.get(0) : ai.djl.ndarray.NDArrays.concat(new ai.djl.ndarray.NDList(parts));
        }

        /** DPO's implicit reward margin of each pair. */
        float[] margins(NDArray logProbs, NDArray refLogProbs) {
            NDArray chosen = PreferenceLosses.reward(logProbs.get("0:" + pairs), refLogProbs.get("0:" + pairs), settings.beta());
            NDArray rejected = PreferenceLosses.reward(logProbs.get(pairs + ":" + 2 * pairs),
                    refLogProbs.get(pairs + ":" + 2 * pairs), settings.beta());
            return chosen.sub(rejected).toFloatArray();
        }
    }

    @Override
    public void close() {
        policy.close();
        reference.close();
    }
}
