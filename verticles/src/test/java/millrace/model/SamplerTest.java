package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class SamplerTest {
    /** With the key/value cache, greedy generation picks exactly what re-running the whole prefix picks. */
    @Test
    void cachedGenerationEqualsRerunningThePrefix() {
        try (ai.djl.ndarray.NDManager root = millrace.train.ModelTrainer.newRootManager()) {
            LanguageModel gpt = LanguageModel.initialize(Gpt2Config.tiny(97, 16), root);
            int[] prompt = {5, 17, 42, 3};
            int[] cached = Sampler.generate(gpt, prompt, new Sampler.Settings(12, 0f, 0, 1), new int[0], t -> { });
            int[] tokens = java.util.Arrays.copyOf(prompt, 16);
            for (int n = prompt.length; n < 16; n++) {
                long[] ctx = new long[n];
                for (int j = 0; j < n; j++) ctx[j] = tokens[j];
                try (ai.djl.ndarray.NDManager step = gpt.manager().newSubManager()) {
                    gpt.attachTo(step);
                    float[] logits = gpt.forward(step.create(ctx, new ai.djl.ndarray.types.Shape(1, n)), false)
                            .get("0, -1, :").toFloatArray();
                    tokens[n] = Sampler.pick(logits, 0f, 0, new Random(1));
                }
            }
            assertArrayEquals(tokens, cached);
            // and past the block (16) the cache restarts from the last half block instead of failing
            assertEquals(4 + 40, Sampler.generate(gpt, prompt, new Sampler.Settings(40, 0.9f, 5, 2), new int[0], t -> { }).length);
        }
    }

    /**
     * A batch of rows is each row sampled alone with its seed: a row that reaches the stop token ends there while the
     * other goes on (past the block, through a cache restart), and every token reaches the listener with its row.
     */
    @Test
    void aBatchOfRowsSamplesWhatEachRowWouldAlone() {
        try (ai.djl.ndarray.NDManager root = millrace.train.ModelTrainer.newRootManager()) {
            LanguageModel gpt = LanguageModel.initialize(Gpt2Config.tiny(97, 16), root);
            int[] prompt = {5, 17, 42, 3};
            Sampler.Settings settings = new Sampler.Settings(30, 1f, 0, 1f, 0);
            int[] free = Sampler.generate(gpt, prompt, new long[] {11}, settings, new int[0], (r, t) -> { }, () -> false)[0];
            int stop = free[4];
            int stopsAt = 0;
            while (free[stopsAt] != stop) stopsAt++;
            int[][] alone = {
                Sampler.generate(gpt, prompt, new long[] {11}, settings, new int[] {stop}, (r, t) -> { }, () -> false)[0],
                Sampler.generate(gpt, prompt, new long[] {23}, settings, new int[] {stop}, (r, t) -> { }, () -> false)[0]};
            java.util.List<java.util.List<Integer>> heard = java.util.List.of(new java.util.ArrayList<>(), new java.util.ArrayList<>());
            int[][] batch = Sampler.generate(gpt, prompt, new long[] {11, 23}, settings, new int[] {stop},
                    (r, t) -> heard.get(r).add(t), () -> false);
            assertArrayEquals(java.util.Arrays.copyOf(free, stopsAt + 1), batch[0], "row 0 ends with its stop token");
            assertArrayEquals(alone[0], batch[0]);
            assertArrayEquals(alone[1], batch[1]);
            for (int r = 0; r < 2; r++) assertArrayEquals(batch[r], heard.get(r).stream().mapToInt(Integer::intValue).toArray());
            // a cancelled batch stops at once
            int[] calls = {0};
            int[][] cancelled = Sampler.generate(gpt, prompt, new long[] {1, 2}, settings, new int[0], (r, t) -> { },
                    () -> ++calls[0] > 3);
            assertEquals(3, cancelled[0].length);
            assertEquals(3, cancelled[1].length);
        }
    }

    @Test
    void greedyTakesTheLargestLogit() {
        assertEquals(2, Sampler.pick(new float[] {0.1f, 3f, 5f, -1f}, 0f, 0, new Random(1)));
    }

    @Test
    void topKNeverPicksOutsideTheK() {
        Random r = new Random(3);
        float[] logits = {5f, 4.9f, 0f, 0f, 0f, 0f};
        for (int i = 0; i < 2000; i++) assertTrue(Sampler.pick(logits, 1.5f, 2, r) <= 1);
    }

    @Test
    void temperatureFollowsTheDistribution() {
        Random r = new Random(5);
        float[] logits = {0f, (float) Math.log(3)};
        int ones = 0;
        for (int i = 0; i < 20000; i++) ones += Sampler.pick(logits, 1f, 0, r);
        assertEquals(0.75, ones / 20000.0, 0.02);
    }

    @Test
    void nucleusKeepsTheSmallestSetHoldingTopP() {
        float[] logits = {0f, 3f, 2.9f, -1f, 1f}; // probabilities about 0.04, 0.45, 0.40, 0.01, 0.10
        java.util.Random random = new java.util.Random(1);
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < 2000; i++) seen.add(Sampler.pick(logits, 1f, 0, 0.8f, random));
        assertEquals(java.util.Set.of(1, 2), seen, "tokens 1 and 2 hold 0.85 >= 0.8");
        seen.clear();
        for (int i = 0; i < 2000; i++) seen.add(Sampler.pick(logits, 1f, 0, 0.3f, random));
        assertEquals(java.util.Set.of(1), seen);
        seen.clear();
        for (int i = 0; i < 4000; i++) seen.add(Sampler.pick(logits, 1f, 0, 1f, random));
        assertEquals(java.util.Set.of(0, 1, 2, 3, 4), seen);
        assertThrows(IllegalArgumentException.class, () -> new Sampler.Settings(4, 1f, 0, 0f, 1));
    }
}
