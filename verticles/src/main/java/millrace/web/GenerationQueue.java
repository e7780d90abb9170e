package millrace.web;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import millrace.metrics.Metrics;
import millrace.model.Sampler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where every generation waits its turn and is decoded: one thread decodes the serving model's batch a token per step,
 * and a waiting request joins it between two steps while it has room ({@code maxBatchRows} answers), so requests that
 * arrive while others are being answered share their steps (continuous batching). At most {@code maxQueued} wait, and
 * one that would wait longer than {@code maxWaitMillis} is turned away rather than answered late. A full queue refuses
 * at once with a retry time, so a stranger cannot pile up work; a job whose client went away is skipped, or leaves the
 * batch between two tokens. A newly loaded version goes into service when the batch has drained: no request is
 * admitted meanwhile, and none ever mixes two versions.
 */
final class GenerationQueue implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GenerationQueue.class);

    /** Refused: the queue is full, or the job waited too long. */
    static final class Busy extends RuntimeException {
        final long retryAfterSeconds;

        Busy(String message, long retryAfterSeconds) {
            super(message, null, false, false);
            this.retryAfterSeconds = retryAfterSeconds;
        }
    }

    /** One job's cancellation flag: set when its client goes away. */
    static final class Ticket {
        private final AtomicBoolean cancelled = new AtomicBoolean();

        void cancel() {
            cancelled.set(true);
        }

        boolean cancelled() {
            return cancelled.get();
        }
    }

    /**
     * What a request asks for: one answer per seed to {@code prompt}; {@code chat} null means as the served model
     * is (a chat turn for a chat model). {@code onStart} hears, on the generation thread and before any text, the
     * version that answers; {@code onText} hears (answer, piece) as the text comes.
     */
    record Request(String prompt, long[] seeds, Sampler.Settings settings, Boolean chat,
            Consumer<ServingModel.Policy> onStart, BiConsumer<Integer, String> onText) {}

    /** What a generation produced, and with which weights. */
    record Result(ServingModel.Policy policy, List<Generator.Answer> answers, boolean cancelled) {}

    private final ServingModel serving;
    private final long maxWaitMillis;
    private final int maxBatchRows;
    private final int maxAnonymous;
    private final ArrayBlockingQueue<Job> waiting;
    /** Jobs of clients without a token, queued or running: a share of the queue, so they cannot crowd raters out. */
    private final AtomicInteger anonymous = new AtomicInteger();
    private final Thread thread;
    private volatile boolean closed;
    /** Set when a new version was loaded: swap it in as soon as the batch is empty, even with nothing waiting. */
    private volatile boolean loaded;
    /** Mean seconds per job (exponentially weighted), for Retry-After. */
    private volatile double meanSeconds = 1;
    // the generation thread's own
    private final List<Job> decoding = new ArrayList<>();
    private ServingModel.Loaded current;

    /**
     * @param maxQueued jobs that may wait
     * @param maxWaitMillis a job that waited longer is refused when its turn comes
     * @param maxBatchRows answers decoded together
     */
    GenerationQueue(ServingModel serving, int maxQueued, long maxWaitMillis, int maxBatchRows) {
        this.serving = serving;
        this.maxWaitMillis = maxWaitMillis;
        this.maxBatchRows = maxBatchRows;
        this.maxAnonymous = Math.max(1, maxQueued / 4);
        this.waiting = new ArrayBlockingQueue<>(maxQueued);
        // one thread for the life of the role: PyTorch keeps per-thread state (grad mode, its thread team)
        this.thread = new Thread(this::decode, "millrace-generate");
        thread.setDaemon(true);
        thread.start();
    }

    /** A queued job: what it asks, and the future its caller waits on (failed if the queue shuts down first). */
    private static final class Job {
        final Ticket ticket;
        final Request request;
        final boolean fromAnonymous;
        final long queuedAt = System.nanoTime();
        final CompletableFuture<Result> result = new CompletableFuture<>();
        ServingModel.Policy policy;
        Generator.Decoding decoding;
        long startedAt;

        Job(Ticket ticket, Request request, boolean fromAnonymous) {
            this.ticket = ticket;
            this.request = request;
            this.fromAnonymous = fromAnonymous;
        }
    }

    /**
     * Queues {@code request}; the future fails with {@link Busy} or {@link CancellationException} instead of running
     * it. {@code fromAnonymous}: a request without a rater's token, which may hold only a quarter of the queue.
     */
    CompletableFuture<Result> submit(Ticket ticket, Request request, boolean fromAnonymous) {
        Job job = new Job(ticket, request, fromAnonymous);
        if (fromAnonymous && anonymous.incrementAndGet() > maxAnonymous) {
            anonymous.decrementAndGet();
            Metrics.WEB_GENERATIONS_DROPPED.labelValues("queue_full").inc();
            job.result.completeExceptionally(new Busy("too many generations without a rater's token are waiting", retryAfter()));
            return job.result;
        }
        if (closed || !waiting.offer(job)) {
            Metrics.WEB_GENERATIONS_DROPPED.labelValues("queue_full").inc();
            fail(job, closed ? new Busy("the web role is stopping", 5) : new Busy("generation queue is full", retryAfter()));
        } else if (closed && waiting.remove(job)) { // closed meanwhile: close() may have drained before it came
            fail(job, new Busy("the web role is stopping", 5));
        }
        Metrics.WEB_GENERATIONS_QUEUED.set(waiting.size());
        return job.result;
    }

    /** A new version was loaded: it goes into service once the batch is empty, at once when nothing is decoding. */
    void policyLoaded() {
        loaded = true;
    }

    /** Seconds until a turn is likely: the batches the waiting jobs fill, times the mean job, at least one. */
    long retryAfter() {
        return Math.max(1, Math.round((waiting.size() / Math.max(1, maxBatchRows / 2) + 1) * meanSeconds));
    }

    /**
     * The generation thread: admit what fits, decode a token for every answer, hand back what ended; repeat. Once
     * closed, the requests in the batch are cancelled (they leave it at the next step) and fail as stopping.
     */
    private void decode() {
        try {
            while (!closed || !decoding.isEmpty()) {
                try {
                    if (decoding.isEmpty()) {
                        Job next = closed ? null : waiting.poll(100, TimeUnit.MILLISECONDS);
                        if (next != null && refused(next)) next = null;
                        if (next == null && !loaded) continue;
                        loaded = false;
                        // a first load may take a while: a job taken before it is not refused for waiting on it
                        if (!swapIn(next) || next == null) continue;
                        start(next);
                    }
                    // others join while there is room, and while no newer version waits for the batch to drain
                    while (!closed && !serving.newerLoaded()) {
                        Job next = waiting.peek();
                        if (next == null || current.generator().batchRows() + next.request.seeds().length > maxBatchRows) break;
                        if (!waiting.remove(next)) continue; // close() failed it meanwhile
                        if (!refused(next)) start(next);
                    }
                    if (!decoding.isEmpty()) {
                        for (Generator.Decoding d : current.generator().step()) {
                            finish(decoding.stream().filter(j -> j.decoding == d).findFirst().orElseThrow());
                        }
                    }
                } catch (InterruptedException e) {
                    closed = true; // nothing will take jobs any more: what is queued and decoding fails below
                } catch (Throwable e) {
                    // the batch is in no known state: every request in it fails, and the next one starts a fresh batch
                    LOG.warn("generation failed; {} requests in the batch fail with it", decoding.size(), e);
                    failDecoding(e);
                } finally {
                    publishGauges();
                }
            }
        } finally {
            // the loop ends only once closed; whatever is left (an interrupt, an error while recovering) fails here
            closed = true;
            failDecoding(new Busy("the web role is stopping", 5));
            for (Job job; (job = waiting.poll()) != null; ) fail(job, new Busy("the web role is stopping", 5));
        }
    }

    /** Fails every request in the batch and drops the batch. */
    private void failDecoding(Throwable cause) {
        try {
            if (current != null) current.generator().abandonBatch();
        } catch (Throwable e) {
            LOG.warn("dropping a failed batch failed too", e);
        }
        for (Job job : decoding) fail(job, cause);
        decoding.clear();
    }

    /**
     * Before a batch: the version to answer with, swapping in a newly loaded one. False when there is none, having
     * failed {@code next} (which would otherwise wait for it).
     */
    private boolean swapIn(Job next) {
        try {
            current = serving.acquire();
            return true;
        } catch (ServingModel.NotReady e) {
            if (next != null) fail(next, e);
            return false;
        }
    }

    /** Ends a job taken from the queue if its client went away or it waited too long; whether it did. */
    private boolean refused(Job job) {
        long waitedMillis = (System.nanoTime() - job.queuedAt) / 1_000_000;
        if (job.ticket.cancelled()) {
            Metrics.WEB_GENERATIONS_DROPPED.labelValues("cancelled").inc();
            fail(job, new CancellationException("the client went away"));
            return true;
        }
        if (waitedMillis > maxWaitMillis) {
            Metrics.WEB_GENERATIONS_DROPPED.labelValues("timeout").inc();
            fail(job, new Busy("waited " + waitedMillis + " ms for a turn", retryAfter()));
            return true;
        }
        return false;
    }

    /** Starts a job in the batch, or ends it at once: it asks for chat of a model that is not one, or asks nothing. */
    private void start(Job job) {
        Generator generator = current.generator();
        Request r = job.request;
        boolean chat = r.chat() != null ? r.chat() : generator.chat();
        if (chat && !generator.chat()) {
            fail(job, new Generator.NotChat()); // a 400, before any event
            return;
        }
        job.policy = current.policy();
        job.startedAt = System.nanoTime();
        try {
            r.onStart().accept(job.policy);
            // closing cancels it too: it then leaves the batch at the next step
            job.decoding = generator.start(r.prompt(), r.seeds(), r.settings(), chat, r.onText(),
                    () -> closed || job.ticket.cancelled());
        } catch (RuntimeException e) {
            // only this request: a prompt that fails to run leaves the shared batch as it was (DecodeBatch.add)
            LOG.warn("a generation failed to start", e);
            fail(job, e);
            return;
        }
        if (job.decoding.done()) finish(job);
        else decoding.add(job);
    }

    private void finish(Job job) {
        decoding.remove(job);
        meanSeconds = 0.8 * meanSeconds + 0.2 * (System.nanoTime() - job.startedAt) / 1e9;
        if (closed && job.decoding.cancelled() && !job.ticket.cancelled()) {
            fail(job, new Busy("the web role is stopping", 5)); // cancelled by the close, not by its client
            return;
        }
        Result result;
        try {
            result = new Result(job.policy, job.decoding.answers(), job.decoding.cancelled());
        } catch (RuntimeException e) {
            fail(job, e);
            return;
        }
        if (job.fromAnonymous && !job.result.isDone()) anonymous.decrementAndGet();
        job.result.complete(result);
    }

    /** Fails a job's future, once, giving its place in the anonymous share back. */
    private void fail(Job job, Throwable e) {
        if (job.fromAnonymous && !job.result.isDone()) anonymous.decrementAndGet();
        job.result.completeExceptionally(e);
    }

    /** On the generation thread only: the generator's lock is held through every step. */
    private void publishGauges() {
        Metrics.WEB_GENERATIONS_QUEUED.set(waiting.size());
        Metrics.WEB_GENERATIONS_IN_FLIGHT.set(decoding.size());
        ServingModel.Loaded now = current;
        Metrics.WEB_GENERATION_BATCH_ROWS.set(now == null ? 0 : now.generator().batchRows());
    }

    /**
     * Stops taking jobs and fails the queued ones; the batch being decoded is cancelled, its requests fail as stopping
     * after the step under way, and the generation thread ends.
     */
    @Override
    public void close() {
        closed = true;
        for (Job job; (job = waiting.poll()) != null; ) fail(job, new Busy("the web role is stopping", 5));
        try {
            thread.join(TimeUnit.MINUTES.toMillis(1));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) LOG.warn("the generation thread did not end within a minute of closing");
        Metrics.WEB_GENERATIONS_QUEUED.set(waiting.size());
    }
}
