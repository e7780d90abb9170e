package millrace.web;

import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import io.vertx.core.json.JsonObject;
import millrace.metrics.Metrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The weights the web role answers with: the newest policy version of its model, or, before any policy exists, the
 * model's newest pretraining checkpoint (version 0). A new version is loaded on a thread of its own while the current
 * one keeps answering, and swapped in on the generation thread between two batches: no request fails because of a
 * load, new requests wait only for the batch under way to drain (at most one answer's token limit), and every answer
 * names the version that produced it.
 */
final class ServingModel implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServingModel.class);

    /** A servable version: its model, version, weights, and the base it was derived from. */
    record Policy(String model, long version, String checkpoint, String base) {}

    /** A policy with its weights in memory. */
    record Loaded(Policy policy, Generator generator) {}

    /** Nothing to serve yet (no checkpoint, or the first load failed). */
    static final class NotReady extends RuntimeException {
        NotReady(String message) {
            super(message, null, false, false);
        }
    }

    private final String model;
    private volatile Runnable onLoaded = () -> { };
    private final ExecutorService loader = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "millrace-policy-loader");
        t.setDaemon(true);
        return t;
    });
    // guarded by this
    private Policy wanted;
    private boolean loading;
    private boolean closed;
    private Loaded ready;
    private String loadError;
    private long failedAtMillis;
    /** Read by any thread, swapped only by the generation thread. */
    private volatile Loaded serving;

    ServingModel(String model) {
        this.model = model;
    }

    String model() {
        return model;
    }

    /**
     * Called on the loader thread after each load: the web role tells its generation thread, which swaps the new
     * version in ({@link #acquire}) once its batch is empty, not at the next request.
     */
    void onLoaded(Runnable r) {
        onLoaded = r;
    }

    /** Asks for {@code policy} to be served from the next request on that finds it loaded. */
    synchronized void want(Policy policy) {
        // the same version again: nothing to do, unless its load failed a while ago (a checkpoint not there yet)
        boolean retry = policy.equals(wanted) && loadError != null && System.currentTimeMillis() - failedAtMillis > 5_000;
        if (closed || (policy.equals(wanted) && !retry)) return;
        wanted = policy;
        loadError = null;
        if (!loading) {
            loading = true;
            loader.execute(this::loadWanted);
        }
    }

    /** Loads what is wanted until what was loaded is still what is wanted (a newer version may arrive meanwhile). */
    private void loadWanted() {
        while (true) {
            Policy target;
            synchronized (this) {
                target = wanted;
            }
            long started = System.nanoTime();
            try {
                Generator g = Generator.load(Path.of(target.checkpoint()));
                Loaded stale;
                synchronized (this) {
                    if (closed) {
                        g.close();
                        return;
                    }
                    stale = ready;
                    ready = new Loaded(target, g);
                    loadError = null;
                    notifyAll();
                }
                if (stale != null) stale.generator().close();
                onLoaded.run();
                Metrics.WEB_POLICY_LOAD_SECONDS.observe((System.nanoTime() - started) / 1e9);
                LOG.info("loaded {} version {} from {} in {} ms", target.model(), target.version(), target.checkpoint(),
                        (System.nanoTime() - started) / 1_000_000);
            } catch (Throwable e) {
                // a checkpoint pruned while it was announced, say: keep serving what is loaded; the next announcement
                // (or the same one, a few seconds on) tries again
                LOG.warn("cannot load {} version {} from {}", target.model(), target.version(), target.checkpoint(), e);
                synchronized (this) {
                    loadError = e.toString();
                    failedAtMillis = System.currentTimeMillis();
                    notifyAll();
                }
            } finally {
                synchronized (this) {
                    if (closed || target.equals(wanted)) loading = false;
                }
            }
            synchronized (this) {
                if (!loading) return;
            }
        }
    }

    /**
     * The policy to answer the next batch with; call it on the generation thread only, when no batch is decoding.
     * Swaps in a newly loaded version (closing the old one, which no request uses any more); before anything was ever
     * loaded it waits for the first load.
     */
    Loaded acquire() {
        Loaded next;
        synchronized (this) {
            if (serving == null && ready == null) {
                long deadline = System.currentTimeMillis() + 60_000;
                while (ready == null && wanted != null && loadError == null && System.currentTimeMillis() < deadline) {
                    try {
                        wait(250);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
                if (ready == null) {
                    // the cause is in the log: an unauthenticated client gets no paths or exception text
                    throw new NotReady(wanted == null ? "no checkpoint of model '" + model + "' yet: training has not saved one"
                            : "model '" + model + "' is " + (loadError != null ? "not loadable now (see the server log)" : "still loading"));
                }
            }
            next = ready;
            ready = null;
        }
        if (next != null) {
            Loaded old = serving;
            serving = next;
            Metrics.WEB_POLICY_VERSION.set(next.policy().version());
            if (old != null) old.generator().close();
        }
        return serving;
    }

    /** Whether a newer version is loaded and waits for {@link #acquire} to swap it in. */
    synchronized boolean newerLoaded() {
        return ready != null;
    }

    /** The version answering now, or null before the first request. */
    Policy serving() {
        Loaded s = serving;
        return s == null ? null : s.policy();
    }

    /** What the page and {@code /api/policy} say is served: the policy, and whether it is a chat model. */
    JsonObject servingJson() {
        Loaded s = serving;
        return s == null ? null : JsonObject.mapFrom(s.policy()).put("chat", s.generator().chat());
    }

    synchronized Policy wanted() {
        return wanted;
    }

    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        loader.shutdownNow();
        try {
            loader.awaitTermination(1, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            if (ready != null) ready.generator().close();
            ready = null;
        }
        if (serving != null) serving.generator().close();
        serving = null;
    }
}
