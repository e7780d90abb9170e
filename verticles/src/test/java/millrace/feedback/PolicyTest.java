package millrace.feedback;

import millrace.model.CheckpointFormat;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rating;
import millrace.protocol.Topics;
import millrace.tokenizer.BpeTrainer;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Pretokenizer;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A policy learning from ratings without a broker: sequences, steps, outcomes, rollback, determinism. */
class PolicyTest {
    @TempDir
    static Path dir;

    static Path base;
    /** The same for the Llama family (every option on: untied head, grouped heads, q/k norms, biases). */
    static Path llamaBase;
    static ByteLevelBpe tokenizer;
    static final Policy.Text TEXT = Policy.Text.none();

    @BeforeAll
    static void baseCheckpoint() throws Exception {
        BpeTrainer vocabulary = new BpeTrainer(Pretokenizer.GPT2);
        vocabulary.add("Is the sky blue? yes it is. no it is not. Is grass green? yes. no. maybe so.");
        tokenizer = vocabulary.train("t", 300, 1, BpeTrainer.DEFAULT_SPECIALS);
        TrainSettings settings = TrainSettings.tinyDemo("t", tokenizer.vocabSize(), 16);
        try (var root = ModelTrainer.newRootManager();
                ModelTrainer trainer = new ModelTrainer(settings, root, LanguageModel.initialize(Gpt2Config.tiny(tokenizer.vocabSize(), 16), root), 0, 0)) {
            base = new CheckpointStore(dir.resolve("checkpoints"), "m", 2).write(trainer, new CheckpointFormat.Meta("m",
                    settings.model(), tokenizer.id(), 0, 0, 5f, null, 1, null, 1L), tokenizer);
        }
        var llama = millrace.model.TinyModels.llama(tokenizer.vocabSize(), 16);
        try (var root = ModelTrainer.newRootManager();
                ModelTrainer trainer = new ModelTrainer(settings, root, LanguageModel.initialize(llama, root), 0, 0)) {
            llamaBase = new CheckpointStore(dir.resolve("checkpoints"), "llama", 2).write(trainer, new CheckpointFormat.Meta("m",
                    llama, tokenizer.id(), 0, 0, 5f, null, 1, null, 1L), tokenizer);
        }
    }

    private static FeedbackSettings settings(float maxKl, float heldout) {
        FeedbackSettings d = FeedbackSettings.defaults("m");
        return new FeedbackSettings("m", null, 0.5f, 0f, 1f, 1f, 1f, 0f, 3e-3f, 4, 32, 4, 0, 0.5f, heldout, maxKl,
                d.maxPerplexityRise(), 0, 7, 5);
    }

    private static long offset;

    private static ConsumerRecord<String, byte[]> record(String id, String rater, Rating.Choice choice, String a, String b) {
        Rating r = new Rating(id, rater, "c-" + id, "m", 1, "ck", "Is the sky blue?", List.of(a, b), choice, null, null,
                null, null, 1000);
        return new ConsumerRecord<>(Topics.RATINGS, 0, offset++, id, JsonSerde.ratings().toBytes(r));
    }

    private static List<ConsumerRecord<String, byte[]>> ratings(String rater, int n, int from) {
        List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
        for (int i = from; i < from + n; i++) out.add(record("r" + i, rater, Rating.Choice.A, " yes it is.", " no it is not."));
        return out;
    }

    private static Map<String, Long> range(long at) {
        return Map.of("0", at);
    }

    static List<Path> bases() {
        return List.of(base, llamaBase);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("bases")
    void stepsOnPairsRaiseTheMarginAndReplayingTheLineageGivesTheSameWeightsBitForBit(Path base) throws Exception {
        offset = 0;
        List<ConsumerRecord<String, byte[]>> first = ratings("ann", 6, 0);
        List<ConsumerRecord<String, byte[]>> second = ratings("bob", 6, 6);
        byte[] online;
        List<Double> margins = new ArrayList<>();
        try (Policy p = Policy.fromBase(settings(100f, 0f), base, TEXT)) {
            Policy.Result r1 = p.update(first, range(0), range(6), Set.of());
            Policy.Result r2 = p.update(second, range(6), range(12), Set.of());
            assertTrue(r1.applied() && r2.applied());
            assertEquals(6, r1.trained().size());
            assertEquals(12, p.ratingsApplied());
            margins.add(r1.metrics().get("train_reward_margin"));
            margins.add(r2.metrics().get("train_reward_margin"));
            online = weights(p);
            assertTrue(r2.metrics().get("kl") > 0, "the policy moved away from the reference");
        }
        assertTrue(margins.get(1) > margins.get(0) && margins.get(1) > 0, "the chosen answer gained on the rejected: " + margins);
        try (Policy replayed = Policy.fromBase(settings(100f, 0f), base, TEXT)) {
            replayed.update(first, range(0), range(6), Set.of());
            replayed.update(second, range(6), range(12), Set.of());
            assertArrayEquals(online, weights(replayed), "the same lineage, the same weights");
        }
        try (Policy without = Policy.fromBase(settings(100f, 0f), base, TEXT)) {
            List<FeedbackAudit.Entry> entries = new ArrayList<>(without.update(first, range(0), range(6), Set.of("bob")).entries());
            entries.addAll(without.update(second, range(6), range(12), Set.of("bob")).entries());
            assertEquals(6, entries.stream().filter(e -> e.outcome() == FeedbackAudit.Outcome.EXCLUDED).count());
            assertEquals(6, without.ratingsApplied());
            assertFalse(java.util.Arrays.equals(online, weights(without)), "bob's ratings are out of the weights");
        }
    }

    /** A restart: the version's weights and optimizer state, its lineage remembered, then the next update — the same. */
    @Test
    void anUpdateAfterARestartIsTheUpdateWithoutIt() throws Exception {
        offset = 300;
        List<ConsumerRecord<String, byte[]>> first = ratings("ann", 5, 300);
        List<ConsumerRecord<String, byte[]>> second = ratings("ann", 5, 305);
        Path version;
        byte[] uninterrupted;
        try (Policy p = Policy.fromBase(settings(100f, 0.2f), base, TEXT)) {
            p.update(first, range(300), range(305), Set.of());
            version = CheckpointStore.writeAtomically(dir.resolve("versions"), "v", d ->
                    CheckpointStore.writeFiles(d, p.trainer(), p.checkpointMeta(2), millrace.model.CheckpointFormat.TokenizerFiles.written(p.tokenizer(), false)));
            PolicyStore.Update u = p.updates().get(0);
            p.update(second, range(305), range(310), Set.of());
            uninterrupted = weights(p);
            try (Policy restarted = Policy.fromVersion(settings(100f, 0.2f), version, base, TEXT)) {
                restarted.remember(first, u, Set.of());
                restarted.update(second, range(305), range(310), Set.of());
                assertArrayEquals(uninterrupted, weights(restarted));
                assertEquals(p.ratingsApplied(), restarted.ratingsApplied());
            }
        }
    }

    @Test
    void everyRecordHasAnOutcomeAndAVersionPastABoundIsRolledBackBitForBit() throws Exception {
        offset = 100;
        List<ConsumerRecord<String, byte[]>> records = new ArrayList<>(ratings("ann", 3, 100));
        records.add(records.get(0)); // a second copy of one rating
        records.add(record("tie", "ann", Rating.Choice.TIE, " yes", " no"));
        records.add(new ConsumerRecord<>(Topics.RATINGS, 0, offset++, "bad", "{not json".getBytes()));
        try (Policy p = Policy.fromBase(settings(1e-9f, 0f), base, TEXT)) {
            byte[] before = weights(p);
            Policy.Result r = p.update(records, range(100), range(offset), Set.of());
            assertFalse(r.applied(), "any movement crosses a KL bound of 1e-9");
            assertTrue(r.note().startsWith("rollback: KL"), r.note());
            assertArrayEquals(before, weights(p), "rolled back to the weights before the update");
            assertEquals(0, p.ratingsApplied());
            assertEquals(List.of(FeedbackAudit.Outcome.ROLLED_BACK, FeedbackAudit.Outcome.ROLLED_BACK,
                    FeedbackAudit.Outcome.ROLLED_BACK, FeedbackAudit.Outcome.DUPLICATE, FeedbackAudit.Outcome.NO_PREFERENCE,
                    FeedbackAudit.Outcome.MALFORMED), r.entries().stream().map(FeedbackAudit.Entry::outcome).toList());
            assertFalse(p.updates().get(0).applied());
        }
    }

    @Test
    void noRaterCarriesMoreThanTheirShareOfAStep() {
        List<Example> fresh = new ArrayList<>();
        for (int i = 0; i < 6; i++) fresh.add(new Example.Pair("m" + i, "mallory", "p", "a", "b"));
        fresh.add(new Example.Pair("a", "ann", "p", "a", "b"));
        // 6 of mallory's and 1 of ann's in a step of 10 (3 replayed): mallory's weight shrinks until it is half the step's
        List<FeedbackTrainer.Weighted> w = Policy.weighted(fresh, 10, 0.5f);
        double mallory = w.stream().filter(x -> x.example().rater().equals("mallory")).mapToDouble(FeedbackTrainer.Weighted::weight).sum();
        double others = 10 - 6; // ann's one and three replayed, each of weight 1
        assertEquals(0.5, mallory / (mallory + others), 1e-6, "half of the step's weight");
        assertEquals(1f, w.get(6).weight(), "ann's one example keeps its weight");
        // with three replayed examples beside her one, a lone rater is under the cap; alone in a step, no one to cap against
        assertEquals(1f, Policy.weighted(List.of(fresh.get(0)), 4, 0.5f).get(0).weight());
        assertEquals(1f, Policy.weighted(List.of(fresh.get(0)), 1, 0.5f).get(0).weight());
        assertEquals(1f / 24, Policy.weighted(fresh.subList(0, 6), 7, 0.2f).get(0).weight(), 1e-6, "6w / (6w + 1) = 0.2");
    }

    @Test
    void aShareOfRatingsIsHeldOutByIdAndMeasuredOn() throws Exception {
        offset = 200;
        List<ConsumerRecord<String, byte[]>> records = ratings("ann", 40, 200);
        try (Policy p = Policy.fromBase(settings(100f, 0.25f), base, TEXT)) {
            Policy.Result r = p.update(records, range(200), range(240), Set.of());
            long held = r.entries().stream().filter(e -> e.outcome() == FeedbackAudit.Outcome.HELDOUT).count();
            assertTrue(held > 0 && held < 40, held + " of 40 held out at 25%");
            assertEquals(40 - held, r.trained().size());
            for (var e : r.entries()) assertEquals(e.outcome() == FeedbackAudit.Outcome.HELDOUT, p.heldOut(e.ratingId()));
            assertTrue(r.metrics().containsKey("reward_accuracy"));
            assertEquals(1.0, r.metrics().get("reward_accuracy"), 1e-9, "held-out pairs like the trained ones: preferred");
        }
    }

    private static byte[] weights(Policy p) throws Exception {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        p.trainer().model().save(out);
        return out.toByteArray();
    }
}
