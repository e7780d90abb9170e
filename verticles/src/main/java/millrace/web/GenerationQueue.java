package millrace.web;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import millrace.metrics.Metrics;

/**
 * Where every generation waits its turn: one generation runs at a time (one model copy; PyTorch spreads each step
 * over its own threads), at most {@code maxQueued} wait, and a job that would wait longer than {@code maxWaitMillis}
 * is turned away rather than answered late. A full queue refuses at once with a retry time, so a stranger cannot pile
 * up work; a job whose client went away is skipped, or stopped between two tokens.
 */
final class GenerationQueue implements AutoCloseable {
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

    private final ThreadPoolExecutor executor;
    private final long maxWaitMillis;
    private final int maxAnonymous;
    private final AtomicInteger running = new AtomicInteger();
    /** Jobs of clients without a token, queued or running: a share of the queue, so they cannot crowd raters out. */
    private final AtomicInteger anonymous = new AtomicInteger();
    /** Mean seconds per job (exponentially weighted), for Retry-After. */
    private volatile double meanSeconds = 1;

    /**
     * @param maxQueued jobs that may wait
     * @param maxWaitMillis a job that waited longer is refused when its turn comes
     */
    GenerationQueue(int maxQueued, long maxWaitMillis) {
        this.maxWaitMillis = maxWaitMillis;
        this.maxAnonymous = Math.max(1, maxQueued / 4);
        this.executor = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(maxQueued), r -> {
            // one thread for the life of the role: PyTorch keeps per-thread state (grad mode, its thread team)
            Thread t = new Thread(r, "millrace-generate");
            t.setDaemon(true);
            return t;
        });
    }

    /** A queued job: what to run, and the future its caller waits on (failed if the queue shuts down first). */
    private final class Job<T> implements Runnable {
        final Ticket ticket;
        final Function<Ticket, T> work;
        final CompletableFuture<T> result = new CompletableFuture<>();
        final long queuedAt = System.nanoTime();
        final boolean fromAnonymous;

        Job(Ticket ticket, Function<Ticket, T> work, boolean fromAnonymous) {
            this.ticket = ticket;
            this.work = work;
            this.fromAnonymous = fromAnonymous;
        }

        @Override
        public void run() {
            try {
                long waitedMillis = (System.nanoTime() - queuedAt) / 1_000_000;
                if (ticket.cancelled()) {
                    Metrics.WEB_GENERATIONS_DROPPED.labelValues("cancelled").inc();
                    result.completeExceptionally(new CancellationException("the client went away"));
                } else if (waitedMillis > maxWaitMillis) {
                    Metrics.WEB_GENERATIONS_DROPPED.labelValues("timeout").inc();
                    result.completeExceptionally(new Busy("waited " + waitedMillis + " ms for a turn", retryAfter()));
                } else {
                    long started = System.nanoTime();
                    running.incrementAndGet();
                    publishGauges();
                    try {
                        result.complete(work.apply(ticket));
                    } catch (Throwable e) {
                        result.completeExceptionally(e);
                    } finally {
                        running.decrementAndGet();
                        meanSeconds = 0.8 * meanSeconds + 0.2 * (System.nanoTime() - started) / 1e9;
                    }
                }
            } finally {
                if (fromAnonymous) anonymous.decrementAndGet();
                publishGauges();
            }
        }
    }

    /**
     * Queues {@code job}; the future fails with {@link Busy} or {@link CancellationException} instead of running it.
     * {@code fromAnonymous}: a request without a rater's token, which may hold only a quarter of the queue.
     */
    <T> CompletableFuture<T> submit(Ticket ticket, Function<Ticket, T> job, boolean fromAnonymous) {
        Job<T> queued = new Job<>(ticket, job, fromAnonymous);
        if (fromAnonymous && anonymous.incrementAndGet() > maxAnonymous) {
            anonymous.decrementAndGet();
            Metrics.WEB_GENERATIONS_DROPPED.labelValues("queue_full").inc();
            queued.result.completeExceptionally(new Busy("too many generations without a rater's token are waiting", retryAfter()));
            return queued.result;
        }
        try {
            executor.execute(queued);
        } catch (RejectedExecutionException e) {
            if (fromAnonymous) anonymous.decrementAndGet();
            Metrics.WEB_GENERATIONS_DROPPED.labelValues("queue_full").inc();
            queued.result.completeExceptionally(new Busy("generation queue is full", retryAfter()));
        }
        publishGauges();
        return queued.result;
    }

    /**
     * Runs {@code task} on the generation thread between two requests, counted in no metric and no mean; dropped when
     * the queue is full (the next request's own turn does the same work then).
     */
    void between(Runnable task) {
        try {
            executor.execute(task);
        } catch (RejectedExecutionException full) {
            // the next request swaps, see ServingModel.acquire
        }
    }

    /** Seconds until a turn is likely: the jobs ahead times the mean job, at least one. */
    long retryAfter() {
        return Math.max(1, Math.round((executor.getQueue().size() + 1) * meanSeconds));
    }

    private void publishGauges() {
        Metrics.WEB_GENERATIONS_QUEUED.set(executor.getQueue().size());
        Metrics.WEB_GENERATIONS_IN_FLIGHT.set(running.get());
    }

    /** Stops taking jobs, fails the queued ones and waits for the running one to end. */
    @Override
    public void close() {
        for (Runnable dropped : executor.shutdownNow()) {
            if (dropped instanceof Job<?> job) job.result.completeExceptionally(new Busy("the web role is stopping", 5));
        }
        try {
            executor.awaitTermination(1, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
