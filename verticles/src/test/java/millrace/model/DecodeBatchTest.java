package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.Test;

class DecodeBatchTest {
    private static final Sampler.Settings GREEDY_30 = new Sampler.Settings(30, 0f, 0, 0);

    /**
     * Requests of different prompt lengths, one joining while the others are mid-answer and all running past the block
     * (16) at different steps: every token each row chose is the likeliest under the model run alone on that row's own
     * context (its window once past the block), so no row sees another's keys, its padding, or a wrong position.
     */
    static List<ModelConfig> families() {
        return TinyModels.families(97, 16);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void raggedRowsJoiningMidFlightDecodeAsEachWouldAlone(ModelConfig family) {
        try (NDManager root = ModelTrainer.newRootManager(); LanguageModel gpt = LanguageModel.initialize(family, root);
                DecodeBatch batch = new DecodeBatch(gpt)) {
            int[][] prompts = {{5, 17, 42, 3}, {9}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {60, 61}};
            List<DecodeBatch.Request> requests = new ArrayList<>();
            List<List<Integer>> heard = new ArrayList<>();
            int maxRows = 0;
            for (int i = 0; i < prompts.length; i++) {
                List<Integer> tokens = new ArrayList<>();
                heard.add(tokens);
                requests.add(batch.add(prompts[i], new long[] {i}, GREEDY_30, new int[0], (row, t) -> tokens.add(t), () -> false));
                for (int s = 0; s < 3 * i; s++) batch.step(); // the next one joins a batch already under way
                maxRows = Math.max(maxRows, batch.rows());
            }
            List<DecodeBatch.Request> finished = new ArrayList<>();
            while (!batch.isEmpty()) finished.addAll(batch.step());
            assertTrue(maxRows >= 3, "requests shared the batch");
            assertEquals(prompts.length, finished.size(), "each request finished exactly once");
            for (int i = 0; i < prompts.length; i++) {
                int[] fresh = requests.get(i).answers()[0];
                assertEquals(30, fresh.length);
                assertArrayEquals(fresh, heard.get(i).stream().mapToInt(Integer::intValue).toArray());
                assertEachTokenIsTheLikeliestAlone(gpt, prompts[i], fresh);
            }
        }
    }

    /**
     * The cache under the batch: rows of different lengths joined (padded on the left), a row kept twice, a row
     * dropped (and the padding nobody needs trimmed); each row's logits for its next tokens are those of the model run
     * alone on that row's context.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("families")
    void aRaggedCacheGivesEachRowItsOwnLogits(ModelConfig family) {
        raggedCacheLogits(family.withVocabulary(97), true, true);
        raggedCacheLogits(family, true, false);
        raggedCacheLogits(family, false, false);
    }

    /**
     * {@code fused} and {@code scripted}: a prompt and a decode step as one TorchScript method each; {@code fused}
     * alone: the blocks an operation a DJL call, with the fused kernels (the masked one for the ragged rows); neither:
     * the blocks in DJL ops, mask written out.
     */
    private static void raggedCacheLogits(ModelConfig family, boolean fused, boolean scripted) {
        ModelConfig config = family instanceof LlamaConfig ? TinyModels.llama(97, 32) : Gpt2Config.tiny(97, 32);
        try (NDManager root = ModelTrainer.newRootManager(); LanguageModel gpt = LanguageModel.initialize(config, root)) {
            gpt.useFusedKernels(fused);
            gpt.useScriptedBlocks(scripted);
            List<List<Integer>> rows = new ArrayList<>(List.of(new ArrayList<>(List.of(5, 17, 42, 3, 8, 9, 10)),
                    new ArrayList<>(List.of(1, 2, 3)), new ArrayList<>(List.of(9, 4, 6))));
            KvCache cache = gpt.newCache();
            try (NDManager step = gpt.manager().newSubManager()) {
                gpt.attachTo(step);
                for (List<Integer> row : rows) { // every token but the last, which the first step feeds
                    long[] prefix = row.stream().limit(row.size() - 1).mapToLong(Integer::longValue).toArray();
                    KvCache alone = gpt.newCache();
                    gpt.forwardLast(step.create(prefix, new Shape(1, prefix.length)), alone);
                    cache.join(alone);
                }
                cache.keep(new int[] {0, 1, 2, 2}); // row 2 twice: one prompt, two answers
                rows.add(new ArrayList<>(rows.get(2)));
                for (int s = 0; s < 5; s++) {
                    if (s == 2) { // the longest row leaves: its padding-free prefix is trimmed from the others
                        cache.keep(new int[] {1, 2, 3});
                        rows.remove(0);
                    }
                    long[] next = rows.stream().mapToLong(r -> r.get(r.size() - 1)).toArray();
                    float[] batched = gpt.forwardLast(step.create(next, new Shape(next.length, 1)), cache).toFloatArray();
                    int vocab = batched.length / next.length;
                    for (int r = 0; r < next.length; r++) {
                        long[] ctx = rows.get(r).stream().mapToLong(Integer::longValue).toArray();
                        float[] alone = gpt.forward(step.create(ctx, new Shape(1, ctx.length)), false)
                                .get("0, -1, :").toFloatArray();
                        for (int v = 0; v < vocab; v++) {
                            assertEquals(alone[v], batched[r * vocab + v], 1e-5f,
                                    (fused ? "fused" : "written out") + ", step " + s + " row " + r + " token " + v);
                        }
                        rows.get(r).add(20 + s + r);
                    }
                }
            } finally {
                cache.close();
            }
        }
    }

    /**
     * A long-running batch keeps nothing: after rounds of requests joining, restarting past the block, being cancelled
     * and leaving, the arrays alive (every manager under the root, the batch's cache included) are what they were.
     */
    @Test
    void aLongRunningBatchHoldsNoMoreArraysThanAnEmptyOne() {
        try (NDManager root = ModelTrainer.newRootManager(); LanguageModel gpt = LanguageModel.initialize(Gpt2Config.tiny(97, 16), root);
                DecodeBatch batch = new DecodeBatch(gpt)) {
            int before = 0;
            for (int round = 0; round < 6; round++) {
                for (int i = 0; i < 5; i++) {
                    int steps = i;
                    batch.add(new int[] {1 + i, 2, 3 + round}, new long[] {i, i + 1}, new Sampler.Settings(20 + i, 1f, 5, i),
                            new int[0], (r, t) -> { }, () -> steps == 3 && batch.rows() > 6);
                    batch.step();
                }
                while (!batch.isEmpty()) batch.step();
                int live = ((ai.djl.ndarray.BaseNDManager) root).getManagedArrays().size();
                if (round == 0) before = live;
                else assertEquals(before, live, "round " + round);
            }
        }
    }

    /** A request's answers, a cancelled request and an answer ending at its stop token, among other requests. */
    @Test
    void requestsEndAndLeaveOnTheirOwn() {
        try (NDManager root = ModelTrainer.newRootManager(); LanguageModel gpt = LanguageModel.initialize(Gpt2Config.tiny(97, 16), root);
                DecodeBatch batch = new DecodeBatch(gpt)) {
            int[] prompt = {5, 17, 42, 3};
            Sampler.Settings sampled = new Sampler.Settings(12, 1f, 0, 1f, 0);
            int[][] alone = Sampler.generate(gpt, prompt, new long[] {11, 23}, sampled, new int[0], (r, t) -> { }, () -> false);
            int stop = alone[0][3];
            boolean[] cancel = {false};
            DecodeBatch.Request other = batch.add(new int[] {8, 8, 8}, new long[] {1}, GREEDY_30, new int[0], (r, t) -> { }, () -> false);
            DecodeBatch.Request cancelled = batch.add(new int[] {7}, new long[] {2}, GREEDY_30, new int[0], (r, t) -> { }, () -> cancel[0]);
            DecodeBatch.Request two = batch.add(prompt, new long[] {11, 23}, sampled, new int[] {stop}, (r, t) -> { }, () -> false);
            assertEquals(4, batch.rows());
            batch.step();
            cancel[0] = true;
            assertTrue(batch.step().contains(cancelled));
            assertTrue(cancelled.done() && cancelled.cancelled());
            assertEquals(2, cancelled.answers()[0].length, "the first token and one step");
            while (!two.done()) batch.step();
            int[][] answers = two.answers();
            int stopsAt = 0;
            while (alone[0][stopsAt] != stop) stopsAt++;
            assertArrayEquals(Arrays.copyOf(alone[0], stopsAt + 1), answers[0], "answer 0 ends at its stop token");
            assertArrayEquals(stopsAt(alone[1], stop), answers[1]);
            assertFalse(other.done());
            while (!other.done()) batch.step();
            assertTrue(batch.isEmpty());
            // nothing to generate: done at once, nothing run
            assertTrue(batch.add(prompt, new long[] {1}, new Sampler.Settings(0, 0f, 0, 0), new int[0], (r, t) -> { }, () -> false).done());
        }
    }

    private static int[] stopsAt(int[] tokens, int stop) {
        for (int i = 0; i < tokens.length; i++) if (tokens[i] == stop) return Arrays.copyOf(tokens, i + 1);
        return tokens;
    }

    /**
     * Runs the model without a cache on each prefix of the row's context as a batch of one would hold it: the whole
     * sequence, and once that passes the block, its last half block from where it passed.
     */
    private static void assertEachTokenIsTheLikeliestAlone(LanguageModel gpt, int[] prompt, int[] fresh) {
        int block = gpt.config().contextLength();
        int[] tokens = Arrays.copyOf(prompt, prompt.length + fresh.length);
        System.arraycopy(fresh, 0, tokens, prompt.length, fresh.length);
        int window = 0;
        for (int n = prompt.length; n < tokens.length; n++) {
            if (n - window > block) window = n - block / 2; // [window, n) predicts token n
            long[] ctx = new long[n - window];
            for (int j = window; j < n; j++) ctx[j - window] = tokens[j];
            try (NDManager step = gpt.manager().newSubManager()) {
                gpt.attachTo(step);
                float[] logits = gpt.forward(step.create(ctx, new Shape(1, ctx.length)), false).get("0, -1, :").toFloatArray();
                float max = Float.NEGATIVE_INFINITY;
                for (float l : logits) max = Math.max(max, l);
                assertTrue(logits[tokens[n]] >= max - 1e-4f, "token " + n + " of prompt " + Arrays.toString(prompt)
                        + ": " + logits[tokens[n]] + " < " + max);
            }
        }
    }
}
