package millrace.feedback;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import java.util.List;
import millrace.protocol.Rating;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.Test;

/** Every loss against values computed by hand (in the comments), to 1e-5. */
class PreferenceLossesTest {
    private static float[] f(NDArray a) {
        return a.toFloatArray();
    }

    @Test
    void dpoIsTheLogSigmoidOfTheScaledMarginAndLabelSmoothingMixesInTheOtherSide() {
        try (NDManager m = ModelTrainer.newRootManager()) {
            // h = (-5 - -6) - (-7 - -6) = 2; β h = 0.2; -log σ(0.2) = log(1 + e^-0.2) = 0.598139
            NDArray pc = m.create(new float[] {-5f});
            NDArray pr = m.create(new float[] {-7f});
            NDArray rc = m.create(new float[] {-6f});
            NDArray rr = m.create(new float[] {-6f});
            assertEquals(0.598139f, f(PreferenceLosses.dpo(pc, pr, rc, rr, 0.1f, 0f))[0], 1e-5f);
            // ε = 0.1: 0.9 · 0.598139 + 0.1 · log(1 + e^0.2) = 0.538325 + 0.079814
            assertEquals(0.618139f, f(PreferenceLosses.dpo(pc, pr, rc, rr, 0.1f, 0.1f))[0], 1e-5f);
            // implicit rewards: β(pc - rc) = 0.1, β(pr - rr) = -0.1
            assertEquals(0.1f, f(PreferenceLosses.reward(pc, rc, 0.1f))[0], 1e-6f);
            assertEquals(-0.1f, f(PreferenceLosses.reward(pr, rr, 0.1f))[0], 1e-6f);

            // the margin can rise while the chosen answer's log-probability falls: the rejected one fell faster.
            // pc -5 → -5.5, pr -7 → -9: h = 0.5 + 3 = 3.5 > 2, so the loss is lower though the chosen answer is less likely
            float lower = f(PreferenceLosses.dpo(m.create(new float[] {-5.5f}), m.create(new float[] {-9f}), rc, rr, 0.1f, 0f))[0];
            assertEquals((float) Math.log1p(Math.exp(-0.35)), lower, 1e-5f);
            assertTrue(lower < 0.598139f);
        }
    }

    @Test
    void dposGradientPushesTheChosenUpAndTheRejectedDown() {
        try (NDManager m = ModelTrainer.newRootManager(); NDManager step = m.newSubManager()) {
            NDArray pc = step.create(new float[] {-5f});
            NDArray pr = step.create(new float[] {-7f});
            pc.setRequiresGradient(true);
            pr.setRequiresGradient(true);
            try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
                c.backward(PreferenceLosses.dpo(pc, pr, step.create(new float[] {-6f}), step.create(new float[] {-6f}), 0.1f, 0f).sum());
            }
            // d/dpc = -β σ(-β h) = -0.1 · σ(-0.2) = -0.1 · 0.450166; d/dpr = +0.0450166
            assertEquals(-0.0450166f, pc.getGradient().toFloatArray()[0], 1e-6f);
            assertEquals(0.0450166f, pr.getGradient().toFloatArray()[0], 1e-6f);
        }
    }

    @Test
    void ktoComparesEachAnswersLogRatioWithTheReferencePoint() {
        try (NDManager m = ModelTrainer.newRootManager()) {
            // r = [2, -1], z0 = 0.3, β = 0.1: desirable 1 - σ(0.17) = 0.457602; undesirable 1 - σ(0.13) = 0.467546, × λ_U 1.5
            NDArray policy = m.create(new float[] {-3f, -6f});
            NDArray reference = m.create(new float[] {-5f, -5f});
            float[] loss = f(PreferenceLosses.kto(policy, reference, m.create(new float[] {1f, 0f}), 0.3f, 0.1f, 1f, 1.5f));
            assertEquals(0.457602f, loss[0], 1e-5f);
            assertEquals(1.5f * 0.467546f, loss[1], 1e-5f);
            // the reference point: the mean log-ratio of mismatched pairs, never below 0, no gradient
            assertEquals(0f, PreferenceLosses.ktoReferencePoint(new float[] {-3f, -5f}, new float[] {-4f, -4f}));
            assertEquals(1.5f, PreferenceLosses.ktoReferencePoint(new float[] {-3f, -3f}, new float[] {-4f, -5f}), 1e-6f);
            assertEquals(0f, PreferenceLosses.ktoReferencePoint(new float[0], new float[0]));
        }
    }

    @Test
    void sftIsTheMeanNegativeLogLikelihoodOfTheAnswerTokens() {
        try (NDManager m = ModelTrainer.newRootManager()) {
            assertArrayEquals(new float[] {2f, 0.5f},
                    f(millrace.sft.ScoredSequence.sftLoss(m.create(new float[] {-6f, -2f}), m.create(new float[] {3f, 4f}))), 1e-6f);
        }
    }

    private static Rating rating(Rating.Choice choice, Integer score, Rating.Scale scale, Integer answer, String edit) {
        return new Rating("r", "ann", "c", "m", 1, "ck", "Q", List.of("a0", "a1"), choice, score, scale, answer, edit, 1);
    }

    @Test
    void eachRatingTeachesWhatItSays() {
        assertEquals(List.of(new Example.Pair("r", "ann", "Q", "a0", "a1")), Example.of(rating(Rating.Choice.A, null, null, null, null)));
        assertEquals(List.of(new Example.Pair("r", "ann", "Q", "a1", "a0")), Example.of(rating(Rating.Choice.B, null, null, null, null)));
        assertEquals(List.of(), Example.of(rating(Rating.Choice.TIE, null, null, null, null)), "a tie prefers nothing");
        assertEquals(List.of(new Example.Judged("r", "ann", "Q", "a0", false), new Example.Judged("r", "ann", "Q", "a1", false)),
                Example.of(rating(Rating.Choice.BOTH_BAD, null, null, null, null)));
        assertEquals(List.of(new Example.Judged("r", "ann", "Q", "a1", true)), Example.of(rating(null, 5, Rating.Scale.FIVE, 1, null)));
        assertEquals(List.of(new Example.Judged("r", "ann", "Q", "a0", false)), Example.of(rating(null, -1, Rating.Scale.THUMBS, 0, null)));
        assertEquals(List.of(), Example.of(rating(null, 3, Rating.Scale.FIVE, 0, null)), "3 of 5 says neither");
        assertEquals(List.of(new Example.Demonstration("r", "ann", "Q", "better"), new Example.Pair("r", "ann", "Q", "better", "a1")),
                Example.of(rating(null, null, null, 1, "better")));
    }
}
