package millrace.feedback;

import millrace.model.CheckpointFormat;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import millrace.kafka.KafkaSettings;
import millrace.kafka.StageVerticle;
import millrace.kafka.TopicFollower;
import millrace.kafka.TopicReader;
import millrace.metrics.Metrics;
import millrace.protocol.Checkpoint;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rating;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The feedback role's loop. It reads {@code millrace.ratings} from where its newest policy version stopped (the
 * offsets are in the version's checkpoint: a restart consumes every later rating exactly once), and as soon as a rating
 * that teaches something arrives it waits {@code maxWaitMillis} for more, then runs an update on all of them and
 * publishes the result as the next version. The first rating makes version 1 — the newest pretraining checkpoint
 * then, as it is — and the first update on it. Every {@code rebaseEvery} new pretraining checkpoints, the lineage is
 * replayed onto the newest, so that preference learning keeps up with pretraining. A base given with {@code --base} (a
 * fine-tuned chat model, say) is version 1 at once, so that raters judge it from the start, and stays the base.
 */
final class FeedbackWorker implements StageVerticle.Worker {
    private static final Logger LOG = LoggerFactory.getLogger(FeedbackWorker.class);

    private final KafkaSettings kafka;
    /** The command line's, until a policy's own replace them (see {@link FeedbackSettings#continuing}). */
    private FeedbackSettings settings;
    private final PolicyStore store;
    private final PolicyPublisher publisher;
    private final KafkaConsumer<String, byte[]> ratings;
    private final TopicFollower checkpoints;
    private final List<TopicPartition> partitions;
    /** The step of the policy's base; -1 before there is a policy. */
    private long baseStep = -1;
    private final List<ConsumerRecord<String, byte[]>> pending = new ArrayList<>();
    private long firstTeachingAt = -1;
    /** When the oldest pending rating arrived (-1: none pending). */
    private long firstPendingAt = -1;
    private Checkpoint newest;
    /** Pretraining checkpoints announced after the policy's base (counted as seen: the topic is compacted). */
    private int checkpointsSinceBase;
    private Policy policy;
    private PolicyStore.Meta meta;

    FeedbackWorker(KafkaSettings kafka, FeedbackSettings settings, Path dataDir) {
        this.kafka = kafka;
        this.settings = settings;
        this.store = new PolicyStore(dataDir, settings.model(), settings.keepVersions());
        try {
            store.lock();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        KafkaConsumer<String, byte[]> consumer = null;
        PolicyPublisher pub = null;
        try {
            pub = new PolicyPublisher(kafka, store);
            consumer = new KafkaConsumer<>(kafka.consumer(null, 500));
            partitions = TopicReader.partitions(consumer, Topics.RATINGS);
            consumer.assign(partitions);
            checkpoints = new TopicFollower(kafka, List.of(Topics.CHECKPOINTS), Duration.ZERO, this::onCheckpoint, () -> { });
        } catch (RuntimeException e) {
            if (consumer != null) consumer.close(Duration.ZERO);
            if (pub != null) pub.close();
            store.unlock();
            throw e;
        }
        this.ratings = consumer;
        this.publisher = pub;
        try {
            resume();
        } catch (IOException | RuntimeException e) {
            close();
            throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
        }
    }

    /** From the newest version on disk, if any: its weights, its lineage replayed, the log from its offsets on. */
    private void resume() throws IOException {
        Optional<Path> latest = store.latest();
        Map<String, Long> from = new HashMap<>();
        if (latest.isPresent()) {
            meta = PolicyStore.readMeta(latest.get());
            new FeedbackAudit(store.auditDir()).truncateAfter(meta.version());
            if (!settings.learnsLike(meta.settings())) {
                LOG.warn("feedback: {} continues with the settings its lineage was learned with ({}); the command line's "
                        + "differ — to learn otherwise, rebuild or start another policy", settings.model(), meta.settings());
            }
            if (settings.base() != null && !settings.base().equals(meta.settings().base())) {
                LOG.warn("feedback: {} continues on the base its lineage began on ({}), not --base {}: to move it, stop the "
                        + "role and run ./millrace feedback rebuild --base", settings.model(), meta.base(), settings.base());
            }
            settings = settings.continuing(meta.settings());
            policy = Policy.fromVersion(settings, latest.get(), Path.of(meta.base()),
                    ShardRows.read(kafka, meta.validationRows(), meta.pretrainingRows()));
            for (PolicyStore.Update u : meta.updates()) {
                policy.remember(RatingsLog.read(kafka, u.from(), u.to()), u, meta.excludedRaters());
            }
            policy.restoreMetrics(meta.metrics());
            from.putAll(meta.offsets());
            LOG.info("feedback: resumed {} at version {} ({} ratings applied), reading ratings from {}", settings.model(),
                    meta.version(), meta.ratingsApplied(), from);
        }
        for (TopicPartition tp : partitions) ratings.seek(tp, from.getOrDefault(RatingsLog.key(tp), 0L));
        if (meta != null) {
            baseStep = CheckpointFormat.readMeta(Path.of(meta.base())).step();
            publisher.announce(latest.get(), meta); // a version written just before a crash was maybe never announced
            Metrics.FEEDBACK_POLICY_VERSION.set(meta.version());
        }
    }

    private void onCheckpoint(ConsumerRecord<String, byte[]> r) {
        try {
            Checkpoint c = JsonSerde.checkpoints().fromBytes(r.value());
            if (!c.model().equals(settings.model())) return;
            if (newest == null || c.step() > newest.step()) {
                newest = c;
                if (baseStep >= 0 && c.step() > baseStep) checkpointsSinceBase++;
            }
        } catch (InvalidPayloadException e) {
            // the web role counts malformed records; this role only wants the newest checkpoint
        }
    }

    @Override
    public void step() {
        checkpoints.step();
        if (policy == null && settings.base() != null) {
            try {
                start();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        for (ConsumerRecord<String, byte[]> r : ratings.poll(Duration.ofMillis(100))) {
            if (pending.isEmpty()) firstPendingAt = System.currentTimeMillis();
            pending.add(r);
            if (firstTeachingAt < 0 && teaches(r)) firstTeachingAt = System.currentTimeMillis();
        }
        try {
            boolean waited = firstTeachingAt >= 0 && System.currentTimeMillis() - firstTeachingAt >= settings.maxWaitMillis();
            boolean full = pending.size() >= settings.maxUpdateRatings();
            // ties and the like alone make no version, unless they pile up or wait ten times as long as a teaching
            // rating would: their offsets then move on in one, so the newest version accounts for every rating
            boolean stale = firstPendingAt >= 0
                    && System.currentTimeMillis() - firstPendingAt >= 10 * Math.max(1000, settings.maxWaitMillis());
            if ((waited || (full && firstTeachingAt >= 0) || pending.size() >= 4 * settings.maxUpdateRatings()
                    || (stale && policy != null))) {
                if (policy == null && !start()) return;
                update();
            } else if (policy != null && settings.base() == null && settings.rebaseEvery() > 0
                    && checkpointsSinceBase >= settings.rebaseEvery()
                    && !meta.updates().isEmpty()) {
                rebase();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether a record could teach the policy anything (parsing it is cheap; the update decides for good). */
    private boolean teaches(ConsumerRecord<String, byte[]> r) {
        try {
            Rating rating = JsonSerde.ratings().fromBytes(r.value());
            return policy == null ? rating.model().equals(settings.model()) && !Example.of(rating).isEmpty()
                    : policy.teaches(List.of(r), meta.excludedRaters());
        } catch (InvalidPayloadException e) {
            return false;
        }
    }

    /** Version 1: the base as it is. False while there is no base yet (no checkpoint of the model). */
    private boolean start() throws IOException {
        Path baseCheckpoint = settings.base() != null ? settings.base()
                : newest != null && Files.isDirectory(Path.of(newest.location())) ? Path.of(newest.location()) : null;
        if (baseCheckpoint == null) {
            LOG.info("feedback: ratings are waiting, but {} has no checkpoint to start a policy from yet", settings.model());
            firstTeachingAt = System.currentTimeMillis(); // look again after another wait
            return false;
        }
        Path base = store.copyBase(baseCheckpoint);
        policy = Policy.fromBase(settings, base, ShardRows.first(kafka, base));
        policy.evaluate();
        Map<String, Long> start = new HashMap<>();
        for (TopicPartition tp : partitions) start.put(RatingsLog.key(tp), 0L);
        meta = publisher.write(policy, 1, 0, start, List.of(), null, java.util.Set.of(), "base " + baseCheckpoint.getFileName());
        baseStep = CheckpointFormat.readMeta(base).step();
        checkpointsSinceBase = 0;
        Metrics.FEEDBACK_POLICY_VERSION.set(1);
        LOG.info("feedback: policy {} version 1 is {}", settings.model(), baseCheckpoint);
        return true;
    }

    /** One update on the pending ratings (at most {@code maxUpdateRatings}), published as the next version. */
    private void update() throws IOException {
        long started = System.nanoTime();
        List<ConsumerRecord<String, byte[]>> taken = new ArrayList<>(pending.subList(0, Math.min(pending.size(), settings.maxUpdateRatings())));
        pending.subList(0, taken.size()).clear();
        Map<String, Long> from = meta.offsets();
        Map<String, Long> to = new HashMap<>(from);
        for (ConsumerRecord<String, byte[]> r : taken) to.merge(Integer.toString(r.partition()), r.offset() + 1, Math::max);
        taken.sort(RatingsLog.ORDER);
        Policy.Result result = policy.update(taken, from, to, meta.excludedRaters());
        long version = meta.version() + 1;
        meta = publisher.write(policy, version, meta.version(), to, result.entries(), null, meta.excludedRaters(), result.note());
        double seconds = (System.nanoTime() - started) / 1e9;
        observe(result, seconds);
        firstTeachingAt = -1;
        firstPendingAt = pending.isEmpty() ? -1 : System.currentTimeMillis();
        for (ConsumerRecord<String, byte[]> r : pending) {
            if (teaches(r)) {
                firstTeachingAt = System.currentTimeMillis();
                break;
            }
        }
        LOG.info("feedback: {} version {} in {} ms — {} (kl {}, reward accuracy {})", settings.model(), version,
                Math.round(seconds * 1000), result.note(), fmt(result.metrics().get("kl")),
                fmt(result.metrics().get("reward_accuracy")));
    }

    /** The lineage replayed onto the newest pretraining checkpoint, published as the next version. */
    private void rebase() throws IOException {
        Path newBase = Path.of(newest.location());
        checkpointsSinceBase = 0;
        if (!Files.isDirectory(newBase)) return; // pruned meanwhile: the next announcement will do
        baseStep = newest.step();
        long started = System.nanoTime();
        Path base = store.copyBase(newBase);
        Policy rebased = Policy.fromBase(settings, base, ShardRows.first(kafka, base));
        List<FeedbackAudit.Entry> entries;
        try {
            entries = Rebuild.replay(kafka, rebased, meta.updates(), meta.excludedRaters());
        } catch (IOException | RuntimeException e) {
            rebased.close();
            throw e;
        }
        policy.close();
        policy = rebased;
        meta = publisher.write(policy, meta.version() + 1, meta.version(), meta.offsets(), entries,
                base.toAbsolutePath().toString(), meta.excludedRaters(), "rebase onto " + newBase.getFileName());
        Metrics.FEEDBACK_POLICY_VERSION.set(meta.version());
        LOG.info("feedback: {} version {} rebased onto {} ({} updates replayed in {} ms)", settings.model(), meta.version(),
                newBase, meta.updates().size(), (System.nanoTime() - started) / 1_000_000);
    }

    private void observe(Policy.Result result, double seconds) {
        Metrics.FEEDBACK_POLICY_VERSION.set(meta.version());
        Metrics.FEEDBACK_UPDATE_SECONDS.observe(seconds);
        long now = System.currentTimeMillis();
        for (Rating r : result.trained()) {
            Metrics.FEEDBACK_RATINGS_APPLIED.labelValues(r.kind().label()).inc();
            Metrics.FEEDBACK_RATING_TO_POLICY_SECONDS.observe(Math.max(0, now - r.createdAtMillis()) / 1000.0);
        }
        for (FeedbackAudit.Entry e : result.entries()) Metrics.FEEDBACK_RATINGS.labelValues(e.outcome().label()).inc();
        if (!result.applied()) Metrics.FEEDBACK_ROLLBACKS.inc();
        Map<String, Double> m = result.metrics();
        if (m.containsKey("kl")) Metrics.FEEDBACK_KL.set(m.get("kl"));
        if (m.containsKey("perplexity")) Metrics.FEEDBACK_PERPLEXITY.set(m.get("perplexity"));
        if (m.containsKey("reward_margin")) Metrics.FEEDBACK_REWARD_MARGIN.set(m.get("reward_margin"));
        if (m.containsKey("reward_accuracy")) Metrics.FEEDBACK_REWARD_ACCURACY.set(m.get("reward_accuracy"));
    }

    private static String fmt(Double d) {
        return d == null ? "-" : String.format("%.3f", d);
    }

    @Override
    public void close() {
        try (AutoCloseable unlock = store::unlock; PolicyPublisher p = publisher; TopicFollower c = checkpoints;
                AutoCloseable r = () -> ratings.close(Duration.ofSeconds(5))) {
            if (policy != null) policy.close();
            policy = null;
        } catch (Exception e) {
            LOG.debug("feedback: closing", e);
        }
    }
}
