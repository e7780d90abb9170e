package millrace.feedback;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import millrace.model.Gpt;
import millrace.model.GradientLane;
import millrace.tokenizer.TextTokenizer;
import millrace.train.GptTrainer;

/**
 * Preference steps on a policy against its frozen reference: DPO on pairs, KTO on judged answers, the SFT loss on
 * demonstrations, all in one weighted loss per step. The policy's weights and AdamW state are a {@link GptTrainer}'s,
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
    private final TextTokenizer tokenizer;
    private final GptTrainer policy;
    private final Gpt reference;
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

    FeedbackTrainer(FeedbackSettings settings, TextTokenizer tokenizer, GptTrainer policy, Gpt reference) {
        this.settings = settings;
        this.tokenizer = tokenizer;
        this.policy = policy;
        this.reference = reference;
        this.positionsPerPass = (int) Math.max(policy.model().config().blockSize() + 1,
                LOGITS_BUDGET_BYTES / ((long) policy.model().config().vocabSize() * 4 * 3));
    }

    GptTrainer policy() {
        return policy;
    }

    Gpt reference() {
        return reference;
    }

    Sequence sequence(String prompt, String answer) {
        return Sequence.of(tokenizer, prompt, answer, policy.model().config().blockSize());
    }

    /**
     * One optimizer step on {@code batch}: every example's loss times its weight, summed, over the number of examples
     * (not over the weights: an example whose weight was shrunk moves the policy less).
     */
    StepStats step(List<Weighted> batch, List<int[]> pretrainingRows) {
        double totalWeight = batch.size();
        float z0 = ktoReferencePoint(batch);
        List<List<Weighted>> chunks = chunks(batch);
        double loss = 0;
        double margins = 0;
        int correct = 0;
        int pairs = 0;
        int judged = 0;
        int demos = 0;
        long tokens = 0;
        try (GradientLane.Pass lane = GradientLane.open()) {
            for (List<Weighted> chunk : chunks) {
                try (NDManager scope = policy.root().newSubManager()) {
                    policy.model().attachTo(scope);
                    reference.attachTo(scope);
                    Chunk c = new Chunk(chunk);
                    NDArray logProbs = Sequence.logProbSums(policy.model(), c.sequences, scope);
                    NDArray refLogProbs = scope.create(referenceLogProbs(c.sequences));
                    NDArray weighted = c.losses(logProbs, refLogProbs, z0, scope);
                    NDArray chunkLoss = weighted.sum().div(scope.create((float) totalWeight));
                    lane.backward(chunkLoss);
                    loss += chunkLoss.getFloat();
                    if (c.pairs > 0) {
                        float[] m = c.margins(logProbs.stopGradient(), refLogProbs);
                        for (float x : m) {
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
                    NDArray lm = Gpt.loss(policy.model().forward(rows.get(":, 0:" + t), false), rows.get(":, 1:"));
                    NDArray mixed = millrace.model.Scalars.times(lm, settings.pretrainMix());
                    lane.backward(mixed);
                    loss += mixed.getFloat();
                    tokens += (long) pretrainingRows.size() * t;
                }
            }
        }
        GptTrainer.Update update = policy.applyGradients((float) loss, tokens);
        return new StepStats((float) loss, update.gradNorm(), pairs, judged, demos,
                pairs == 0 ? Double.NaN : margins / pairs, pairs == 0 ? Double.NaN : (double) correct / pairs,
                update.skipped());
    }

    /**
     * KTO's reference point for this batch: each judged answer scored after the next judged example's prompt (the
     * last after the first's), under the policy and the reference, without gradients.
     */
    private float ktoReferencePoint(List<Weighted> batch) {
        List<Example.Judged> judged = new ArrayList<>();
        for (Weighted w : batch) if (w.example() instanceof Example.Judged j) judged.add(j);
        if (judged.size() < 2) return 0f;
        List<Sequence> mismatched = new ArrayList<>();
        for (int i = 0; i < judged.size(); i++) {
            mismatched.add(sequence(judged.get(i).prompt(), judged.get((i + 1) % judged.size()).answer()));
        }
        return PreferenceLosses.ktoReferencePoint(logProbs(policy.model(), mismatched), referenceLogProbs(mismatched));
    }

    /** The reference's summed answer log-probabilities, each computed alone once and remembered. */
    float[] referenceLogProbs(List<Sequence> sequences) {
        float[] out = new float[sequences.size()];
        for (int i = 0; i < out.length; i++) {
            Sequence s = sequences.get(i);
            String key = s.answerFrom() + ":" + java.util.Arrays.toString(s.ids());
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
    float[] logProbs(Gpt gpt, List<Sequence> sequences) {
        float[] out = new float[sequences.size()];
        int from = 0;
        while (from < sequences.size()) {
            int to = from;
            int positions = 0;
            while (to < sequences.size() && to - from < MAX_SEQUENCES
                    && (to == from || positions + sequences.get(to).scored() <= positionsPerPass)) {
                positions += sequences.get(to++).scored();
            }
            try (NDManager scope = policy.root().newSubManager()) {
                gpt.attachTo(scope);
                float[] sums = Sequence.logProbSums(gpt, sequences.subList(from, to), scope).stopGradient().toFloatArray();
                System.arraycopy(sums, 0, out, from, sums.length);
            }
            from = to;
        }
        return out;
    }

    /** Consecutive examples, as many as fit one forward pass (a pair is two sequences). */
    private List<List<Weighted>> chunks(List<Weighted> batch) {
        List<List<Weighted>> out = new ArrayList<>();
        List<Weighted> current = new ArrayList<>();
        int seqs = 0;
        int positions = 0;
        for (Weighted w : batch) {
            List<Sequence> own = sequences(w.example());
            int n = own.size();
            int p = own.stream().mapToInt(Sequence::scored).sum();
            if (!current.isEmpty() && (seqs + n > MAX_SEQUENCES || positions + p > positionsPerPass)) {
                out.add(current);
                current = new ArrayList<>();
                seqs = 0;
                positions = 0;
            }
            current.add(w);
            seqs += n;
            positions += p;
        }
        if (!current.isEmpty()) out.add(current);
        return out;
    }

    private List<Sequence> sequences(Example e) {
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
        final List<Sequence> sequences = new ArrayList<>();
        final int pairs;
        final int judged;
        final int demos;
        private final float[] pairWeights;
        private final float[] judgedWeights;
        private final float[] desirable;
        private final float[] demoWeights;
        private final float[] demoTokens;

        Chunk(List<Weighted> chunk) {
            List<Weighted> p = chunk.stream().filter(w -> w.example() instanceof Example.Pair).toList();
            List<Weighted> j = chunk.stream().filter(w -> w.example() instanceof Example.Judged).toList();
            List<Weighted> d = chunk.stream().filter(w -> w.example() instanceof Example.Demonstration).toList();
            pairs = p.size();
            judged = j.size();
            demos = d.size();
            for (Weighted w : p) sequences.add(sequence(w.example().prompt(), ((Example.Pair) w.example()).chosen()));
            for (Weighted w : p) sequences.add(sequence(w.example().prompt(), ((Example.Pair) w.example()).rejected()));
            for (Weighted w : j) sequences.add(sequence(w.example().prompt(), ((Example.Judged) w.example()).answer()));
            demoTokens = new float[demos];
            for (int i = 0; i < demos; i++) {
                Sequence s = sequence(d.get(i).example().prompt(), ((Example.Demonstration) d.get(i).example()).answer());
                sequences.add(s);
                demoTokens[i] = s.answerTokens();
            }
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
                NDArray sft = PreferenceLosses.sft(logProbs.get(at + ":" + (at + demos)), scope.create(demoTokens));
                parts.add(sft.mul(scope.create(demoWeights)));
            }
            return parts.size() == 1 ? parts.get(0) : NDArrays.concat(new ai.djl.ndarray.NDList(parts));
        }

        /** DPO's implicit reward margin of each pair. */
        float[] margins(NDArray logProbs, NDArray refLogProbs) {
            NDArray chosen = PreferenceLosses.reward(logProbs.get("0:" + pairs), refLogProbs.get("0:" + pairs), settings.beta());
            NDArray rejected = PreferenceLosses.reward(logProbs.get(pairs + ":" + 2 * pairs),
                    refLogProbs.get(pairs + ":" + 2 * pairs), settings.beta());
            return chosen.sub(rejected).toFloatArray();
        }
    }

    private static final class NDArrays {
        static NDArray concat(ai.djl.ndarray.NDList parts) {
            return ai.djl.ndarray.NDArrays.concat(parts);
        }
    }

    @Override
    public void close() {
        policy.close();
        reference.close();
    }
}
