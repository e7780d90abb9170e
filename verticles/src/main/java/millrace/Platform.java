package millrace;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.Deployable;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import millrace.metrics.MetricsVerticle;
import millrace.dedup.DedupVerticle;
import millrace.feedback.FeedbackVerticle;
import millrace.ingest.IngestVerticle;
import millrace.kafka.TopicSetup;
import millrace.metrics.Metrics;
import millrace.tokenizer.TokenizeVerticle;
import millrace.train.TrainVerticle;
import millrace.raters.RaterDirectory;
import millrace.raters.RaterWatcher;
import millrace.web.RatingLedger;
import millrace.web.StatusVerticle;
import millrace.web.WebVerticle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Deploys the verticles of a set of roles on one Vert.x instance, and takes them down again. */
public final class Platform implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Platform.class);

    private final Vertx vertx;
    private final WebVerticle web;
    private final MetricsVerticle ops;
    private final TrainVerticle train;

    private Platform(Vertx vertx, WebVerticle web, MetricsVerticle ops, TrainVerticle train) {
        this.vertx = vertx;
        this.web = web;
        this.ops = ops;
        this.train = train;
    }

    /**
     * Completes with the last step when the train role has trained its {@code --max-steps} and checkpointed them;
     * never when this process has no train role or no step limit.
     */
    public java.util.concurrent.CompletableFuture<Long> trainingFinished() {
        return train == null ? new java.util.concurrent.CompletableFuture<>() : train.finished();
    }

    /** Creates missing topics, then deploys every role's verticles; returns when all have started. */
    public static Platform start(Set<Role> roles, PlatformConfig config) {
        Metrics.init();
        TopicSetup.ensureTopics(config.kafka(), config.partitions(), config.replicationFactor());
        // a training step or a checkpoint may legitimately hold a worker thread for a while
        Vertx vertx = Vertx.vertx(new VertxOptions().setMaxWorkerExecuteTime(10).setMaxWorkerExecuteTimeUnit(TimeUnit.MINUTES));
        DeploymentOptions worker = new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER);
        DeploymentOptions eventLoop = new DeploymentOptions();
        List<Future<String>> deployed = new ArrayList<>();
        AtomicBoolean started = new AtomicBoolean();
        WebVerticle[] webRole = new WebVerticle[1];
        // ready: every role started, and the web role (if any) has caught up with the topics it follows
        MetricsVerticle ops = new MetricsVerticle(config.opsPort(),
                () -> started.get() && (webRole[0] == null || webRole[0].ready()));
        deployed.add(deploy(vertx, ops, eventLoop));
        WebVerticle web = null;
        TrainVerticle train = null;
        // downstream first, so that consumers are in their groups before the first documents arrive
        if (roles.contains(Role.WEB)) {
            RaterDirectory raters = new RaterDirectory();
            RatingLedger ledger = new RatingLedger(100_000);
            web = new WebVerticle(config.httpPort(), config.kafka(), config.web(), raters, ledger);
            webRole[0] = web;
            deployed.add(deploy(vertx, new RaterWatcher(config.kafka(), raters), worker));
            deployed.add(deploy(vertx, new StatusVerticle(config.kafka(), ledger), worker));
            deployed.add(deploy(vertx, web, eventLoop));
        }
        if (roles.contains(Role.TRAIN)) {
            // one dedicated thread: PyTorch keeps per-thread state (grad mode, its intra-op thread team), so every
            // step runs on the same thread instead of hopping across the shared worker pool
            DeploymentOptions trainer = new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)
                    .setWorkerPoolName("millrace-train").setWorkerPoolSize(1);
            train = new TrainVerticle(config.kafka(), config.train(), config.checkpointDir());
            deployed.add(deploy(vertx, train, trainer));
        }
        if (roles.contains(Role.FEEDBACK)) {
            // its own thread, as the trainer's: PyTorch's per-thread state; its gradient steps share the process's one
            // gradient lane with the trainer's (see GradientLane)
            DeploymentOptions feedback = new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)
                    .setWorkerPoolName("millrace-feedback").setWorkerPoolSize(1);
            deployed.add(deploy(vertx, new FeedbackVerticle(config.kafka(), config.feedback(), config.dataDir()), feedback));
        }
        if (roles.contains(Role.TOKENIZE)) {
            deployed.add(deploy(vertx, new TokenizeVerticle(config.kafka(), config.tokenize()), worker));
        }
        if (roles.contains(Role.DEDUP)) deployed.add(deploy(vertx, new DedupVerticle(config.kafka(), config.dedup()), worker));
        if (roles.contains(Role.INGEST)) {
            deployed.add(deploy(vertx, new IngestVerticle(config.kafka(), config.ingest()), worker));
        }
        try {
            Future.all(deployed).await(5, TimeUnit.MINUTES);
        } catch (Exception e) {
            try {
                vertx.close().await(30, TimeUnit.SECONDS);
            } catch (Exception closing) {
                e.addSuppressed(closing);
            }
            throw new IllegalStateException("roles failed to start: " + e.getMessage(), e);
        }
        started.set(true);
        LOG.info("running roles {}{}; metrics on :{}/metrics", roles.stream().map(Role::label).toList(),
                web != null ? " — web on http://localhost:" + web.port() : "", ops.port());
        return new Platform(vertx, web, ops, train);
    }

    private static Future<String> deploy(Vertx vertx, Deployable verticle, DeploymentOptions options) {
        return vertx.deployVerticle(verticle, options);
    }

    /** The port of /metrics, /health and /ready. */
    public int opsPort() {
        return ops.port();
    }

    /** The web role's port, or -1 when this process does not run it. */
    public int httpPort() {
        return web == null ? -1 : web.port();
    }

    @Override
    public void close() {
        try {
            vertx.close().await(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("Vert.x did not close cleanly: {}", e.toString());
        }
    }
}
