package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.function.BooleanSupplier;

/**
 * Sequences decoded together, one token each per {@link #step}, over one key/value cache (continuous batching): a
 * request joins between two steps, its prompt run on its own, and leaves as soon as it ends, so requests that arrive
 * while others are being answered share their steps instead of queueing behind them. A request is one prompt and one
 * answer per seed (the arena's two answers); its prompt runs once for all of them.
 *
 * <p>Rows of different lengths sit right-aligned in the cache; each takes its own positions and attends to its own
 * keys only, so a row gets what it would get alone, up to the rounding of a batched matrix product. A row whose
 * context fills the model's block starts again from its last half block. One thread drives a batch; each call holds
 * the model's lock, since the parameters are lent to each step's manager.
 */
public final class DecodeBatch implements AutoCloseable {
    /** One prompt's answers: each grows by a token per step until it ends, is cancelled, or reaches the limit. */
    public static final class Request {
        private final int promptLength;
        private final Sampler.Settings settings;
        /** The tokens that end an answer (the model's end of turn and end of sequence, say). */
        private final int[] stopTokens;
        private final Sampler.TokenListener onToken;
        private final BooleanSupplier cancelled;
        private final Row[] answers;
        private int running;
        private boolean wasCancelled;

        private Request(int[] prompt, long[] seeds, Sampler.Settings settings, int[] stopTokens,
                Sampler.TokenListener onToken, BooleanSupplier cancelled) {
            this.promptLength = prompt.length;
            this.settings = settings;
            this.stopTokens = stopTokens.clone();
            this.onToken = onToken;
            this.cancelled = cancelled;
            this.answers = new Row[seeds.length];
            for (int i = 0; i < seeds.length; i++) answers[i] = new Row(this, i, prompt, seeds[i]);
        }

        /** Whether every answer has ended (or the request was cancelled). */
        public boolean done() {
            return running == 0;
        }

        /** Whether it stopped because {@code cancelled} said so. */
        public boolean cancelled() {
            return wasCancelled;
        }

        /** Each answer's new tokens; an answer that ended at a stop token keeps it as its last. */
        public int[][] answers() {
            int[][] out = new int[answers.length][];
            for (int i = 0; i < answers.length; i++) out[i] = Arrays.copyOfRange(answers[i].tokens, promptLength, answers[i].length);
            return out;
        }

        /** Whether {@code token} ends an answer. */
        private boolean stops(int token) {
            for (int s : stopTokens) if (s == token) return true;
            return false;
        }

        /** Checked once before each token: a cancelled request ends at once. */
        private boolean stopNow() {
            if (running > 0 && cancelled.getAsBoolean()) {
                wasCancelled = true;
                for (Row row : answers) row.ended = true;
                running = 0;
            }
            return running == 0;
        }
    }

    /** One answer: its tokens (prompt first), and the generator its samples come from. */
    private static final class Row {
        final Request request;
        final int answer;
        final Random random;
        final int[] tokens;
        int length;
        boolean ended;

        Row(Request request, int answer, int[] prompt, long seed) {
            this.request = request;
            this.answer = answer;
            this.random = new Random(seed);
            this.tokens = Arrays.copyOf(prompt, prompt.length + request.settings.maxNewTokens());
            this.length = prompt.length;
        }

        /** Where the context it is fed from begins: the whole sequence, or its last half block once past the block. */
        int windowStart(int block) {
            return length > block ? length - block / 2 : 0;
        }
    }

    private final LanguageModel gpt;
    private final int block;
    private final KvCache cache;
    /** The rows in the cache, in its row order: each has every token but its newest in the cache. */
    private final List<Row> active = new ArrayList<>();
    /** Set while the cache is being changed: an exception then leaves it in no known state. */
    private boolean broken;

    public DecodeBatch(LanguageModel gpt) {
        this.gpt = gpt;
        this.block = gpt.config().contextLength();
        this.cache = gpt.newCache();
    }

    /** Answers being decoded. */
    public int rows() {
        return active.size();
    }

    public boolean isEmpty() {
        return active.isEmpty();
    }

    /**
     * Runs {@code prompt} and chooses each answer's first token; the answers that go on join the batch, and the request
     * comes back already done when none does. {@code onToken} hears (answer, token) as each is chosen;
     * {@code cancelled} is asked once before each of the request's steps. An exception from here leaves the batch as
     * it was, unless the cache failed half-way through taking the new rows in; after that, or after any exception from
     * {@link #step}, the batch is in no known state and refuses to step: close it and fail its requests.
     */
    public Request add(int[] prompt, long[] seeds, Sampler.Settings settings, int[] stopTokens,
            Sampler.TokenListener onToken, BooleanSupplier cancelled) {
        if (prompt.length == 0) throw new IllegalArgumentException("an empty prompt");
        Request request = new Request(prompt, seeds, settings, stopTokens, onToken, cancelled);
        if (settings.maxNewTokens() <= 0 || seeds.length == 0) return request;
        request.running = seeds.length;
        if (request.stopNow()) return request;
        synchronized (gpt) {
            Row first = request.answers[0];
            int from = first.windowStart(block);
            long[] feed = new long[first.length - from];
            for (int j = from; j < first.length; j++) feed[j - from] = first.tokens[j];
            KvCache fresh = gpt.newCache();
            try (NDManager step = gpt.manager().newSubManager()) {
                gpt.attachTo(step);
                NDArray last = gpt.forwardLast(step.create(feed, new Shape(1, feed.length)), fresh);
                // one prompt: the same logits for every answer, each drawing from its own generator
                List<Row> rows = List.of(request.answers);
                choose(rows, last.repeat(0, rows.size()));
                List<Row> going = rows.stream().filter(r -> !r.ended).toList();
                fresh.keep(new int[going.size()]); // row 0, once per answer that goes on
                broken = true; // until the cache has taken the rows in whole
                cache.join(fresh);
                active.addAll(going);
                broken = false;
            } catch (RuntimeException e) {
                fresh.close();
                throw e;
            }
        }
        return request;
    }

    /**
     * One token for every row; the requests that ended in it (every answer at its stop token, at the limit, or
     * cancelled) are returned and leave the batch.
     */
    public List<Request> step() {
        if (broken) throw new IllegalStateException("an earlier step failed: the batch is in no known state");
        List<Request> finished = new ArrayList<>();
        broken = true; // until this step has ended whole
        synchronized (gpt) {
            // a cancelled request leaves before its rows cost a token
            for (Request request : new LinkedHashSet<>(active.stream().map(r -> r.request).toList())) {
                if (request.stopNow()) finished.add(request);
            }
            keepRunning();
            if (active.isEmpty()) {
                broken = false;
                return finished;
            }
            List<Row> decode = new ArrayList<>();
            List<Row> restart = new ArrayList<>();
            for (int i = 0; i < active.size(); i++) {
                // the cache holds all of a row's window but its newest token, which must still fit the block
                (cache.length(i) + 1 > block ? restart : decode).add(active.get(i));
            }
            KvCache fresh = null; // the restarted rows' cache until it joins (which closes it)
            try (NDManager step = gpt.manager().newSubManager()) {
                gpt.attachTo(step);
                NDArray restartLogits = null;
                if (!restart.isEmpty()) {
                    // full rows leave the cache and come back with their last half block run afresh
                    cache.keep(decode.stream().mapToInt(active::indexOf).toArray());
                    int n = block / 2;
                    long[] feed = new long[restart.size() * n];
                    for (int i = 0; i < restart.size(); i++) {
                        Row row = restart.get(i);
                        for (int j = 0; j < n; j++) feed[i * n + j] = row.tokens[row.length - n + j];
                    }
                    fresh = gpt.newCache();
                    restartLogits = gpt.forwardLast(step.create(feed, new Shape(restart.size(), n)), fresh);
                }
                NDArray decodeLogits = null;
                if (!decode.isEmpty()) {
                    long[] feed = decode.stream().mapToLong(r -> r.tokens[r.length - 1]).toArray();
                    decodeLogits = gpt.forwardLast(step.create(feed, new Shape(decode.size(), 1)), cache);
                }
                if (fresh != null) cache.join(fresh);
                active.clear();
                active.addAll(decode);
                active.addAll(restart);
                NDArray logits = decodeLogits == null ? restartLogits
                        : restartLogits == null ? decodeLogits : decodeLogits.concat(restartLogits, 0);
                choose(active, logits);
            } catch (RuntimeException e) {
                if (fresh != null) fresh.close();
                throw e;
            }
            for (Row row : active) {
                if (row.ended && row.request.done() && !finished.contains(row.request)) finished.add(row.request);
            }
            keepRunning();
        }
        broken = false;
        return finished;
    }

    /** Picks each row's next token from its logits ({@code [rows, vocab]}), tells the listener, and marks ends. */
    private static void choose(List<Row> rows, NDArray logits) {
        boolean greedy = rows.stream().allMatch(r -> r.request.settings.temperature() <= 0);
        // greedy: the argmax in libtorch, not the whole [rows, vocab] logits copied out to pick from
        long[] best = greedy ? logits.argMax(-1).toLongArray() : null;
        float[] all = greedy ? null : logits.toFloatArray();
        int vocab = greedy ? 0 : all.length / rows.size();
        for (int i = 0; i < rows.size(); i++) {
            Row row = rows.get(i);
            Sampler.Settings s = row.request.settings;
            int next = greedy ? (int) best[i] : Sampler.pick(rows.size() == 1 ? all
                    : Arrays.copyOfRange(all, i * vocab, (i + 1) * vocab), s.temperature(), s.topK(), s.topP(), row.random);
            row.tokens[row.length++] = next;
            row.request.onToken.accept(row.answer, next);
            if (row.request.stops(next) || row.length == row.tokens.length) {
                row.ended = true;
                row.request.running--;
            }
        }
    }

    /** Drops the rows that ended from the batch and the cache. */
    private void keepRunning() {
        if (active.stream().noneMatch(r -> r.ended)) return;
        int[] keep = new int[active.stream().mapToInt(r -> r.ended ? 0 : 1).sum()];
        List<Row> going = new ArrayList<>();
        for (int i = 0, k = 0; i < active.size(); i++) {
            if (active.get(i).ended) continue;
            keep[k++] = i;
            going.add(active.get(i));
        }
        cache.keep(keep);
        active.clear();
        active.addAll(going);
    }

    @Override
    public void close() {
        cache.close();
    }
}
