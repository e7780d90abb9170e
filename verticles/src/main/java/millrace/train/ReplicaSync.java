package millrace.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import millrace.kafka.KafkaSettings;
import millrace.metrics.Metrics;
import millrace.model.CheckpointFormat.ReplicaState;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.SyncMessage;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A trainer replica's part in a DiLoCo run: replicas of one model train on their share of the shard partitions, and
 * every {@link SyncSettings#syncEvery} steps each publishes its pseudo-gradient (the weights its round began at minus
 * its weights now) on {@code millrace.sync}, waits for the round to close, and applies the outer step to the mean of
 * what the round sums ({@link SyncLog} says what that is, the same for every replica; {@link OuterNesterov} applies it,
 * bit for bit the same everywhere). The replicas it waits for are the members of the model's consumer group that hold
 * shard partitions; after {@link SyncSettings#timeoutMillis} it closes the round with those that arrived.
 *
 * <p>Nothing published is counted twice, and nothing a replica publishes is lost: a contribution that misses its
 * round's close is summed by the next (what {@link SyncLog} refuses comes from a replica in a state of its own).
 * A replica whose round closed before it published keeps its work: its weights become the run's plus its own progress
 * since, which its next pseudo-gradient carries. Its checkpoint is written before it publishes and holds this
 * state ({@link ReplicaState}) and the outer optimizer; restored, it replays the log from there, which also tells it
 * whether its last pseudo-gradient made it onto the log.
 */
final class ReplicaSync implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ReplicaSync.class);

    /** What the replica's worker does for it. */
    interface Host {
        /** Writes the replica's checkpoint now, with {@link #state} and {@link #writeOuter}, and commits its positions. */
        void checkpoint();

        /** Writes and announces a checkpoint of the run: the weights every replica of the round now holds. */
        void announce();
    }

    private final SyncSettings settings;
    private final String model;
    private final String replica;
    private final String group;
    private final ModelTrainer trainer;
    private final Host host;
    private final Path roundsLog;
    private final long announceEveryMillis;
    private final SyncTopic topic;
    private final OuterNesterov outer;
    private final SyncLog rounds;
    private long roundStartStep;
    private long roundStartTokens;
    private Long publishedStep;
    private long publishedAtNanos;
    private boolean closeSent;
    private long runSteps;
    private long runTokens;
    /** The replicas a round waits for, as last looked up (null: not known yet). */
    private Set<String> awaited;
    private long awaitedAtMillis;
    private boolean replaying;
    /**
     * While a new replica replays the first round it sees: other replicas' contributions refused for starting from
     * other weights than its own, and those summed. Refused and none summed: it is the one that began elsewhere.
     */
    private int foreignBaseRefusals;
    private int foreignSummed;
    private long firstReplayedRound = -1;
    private long lastAnnounceMillis;
    /** This replica's pseudo-gradient came first in the last round it applied: it writes the run's checkpoint. */
    private boolean firstInLastRound;

    /**
     * Joins the run: from {@code restored} (a checkpoint's state, and its outer optimizer in {@code outerFile}), or,
     * when both are null, as a replica whose weights are the run's first. Replays {@code millrace.sync} up to its end.
     *
     * @param roundsLog where every applied round is appended (round, closer, awaited, contributions, weights' digest)
     */
    ReplicaSync(KafkaSettings kafka, String model, String group, SyncSettings settings, ModelTrainer trainer, Host host,
            ReplicaState restored, Path outerFile, Path roundsLog, long announceEveryMillis) throws IOException {
        this.settings = settings;
        this.model = model;
        this.replica = kafka.instanceId();
        this.group = group;
        this.trainer = trainer;
        this.host = host;
        this.roundsLog = roundsLog;
        this.announceEveryMillis = announceEveryMillis;
        long round = 0;
        long afterClose = 0;
        long replayFrom = 0;
        Map<String, Long> closedSteps = Map.of();
        if (restored == null) {
            this.outer = new OuterNesterov(trainer.weightVector(), settings.outerLr(), settings.outerMomentum());
            this.roundStartStep = trainer.step();
            this.roundStartTokens = trainer.tokensSeen();
        } else {
            this.outer = OuterNesterov.read(outerFile, Math.toIntExact(trainer.model().parameterCount()), settings.outerLr(),
                    settings.outerMomentum());
            round = restored.round();
            afterClose = restored.afterClose();
            replayFrom = restored.replayFrom();
            this.roundStartStep = restored.roundStartStep();
            this.roundStartTokens = restored.roundStartTokens();
            this.publishedStep = restored.publishedStep();
            this.publishedAtNanos = System.nanoTime(); // a restored replica waits its full timeout for the others again
            this.runSteps = restored.runSteps();
            this.runTokens = restored.runTokens();
            closedSteps = restored.closedSteps();
        }
        this.rounds = new SyncLog(model, outer.size(), round, afterClose, closedSteps, outer::digest, this::refused);
        this.topic = new SyncTopic(kafka, model);
        try {
            if (publishedStep != null && !onLog(replayFrom, publishedStep)) {
                LOG.info("pseudo-gradient of step {} never reached millrace.sync: its work stays in the weights", publishedStep);
                publishedStep = null;
            }
            firstReplayedRound = rounds.round();
            replaying = true;
            topic.readToEnd(replayFrom, this::accept);
            replaying = false;
            foreignSummed += (int) rounds.waiting().stream().filter(r -> !r.equals(replica)).count();
            if (restored == null && foreignBaseRefusals > 0 && foreignSummed == 0) {
                throw new IllegalStateException("replica " + replica + " began from other weights than run " + model
                        + " on millrace.sync: give it the run's --seed and --model, or start it from a checkpoint of the run");
            }
        } catch (RuntimeException e) {
            topic.close();
            throw e;
        }
        Metrics.TRAIN_SYNC_ROUND.set(rounds.round());
        LOG.info("replica {} of {}: round {}, H = {}, {} pseudo-gradients", replica, model, rounds.round(),
                settings.syncEvery(), settings.encoding());
    }

    /** Whether this replica's pseudo-gradient of {@code step} is on the log after {@code from}. */
    private boolean onLog(long from, long step) {
        boolean[] found = {false};
        topic.readToEnd(from, r -> {
            try {
                if (SyncMessage.decode(r.value()) instanceof SyncMessage.Chunk c && c.model().equals(model)
                        && c.replica().equals(replica) && c.step() == step) {
                    found[0] = true;
                }
            } catch (InvalidPayloadException e) {
                // counted by the replay that follows, which reads it too
            }
        });
        return found[0];
    }

    /**
     * One turn of the worker's loop: applies what the log closed, publishes when {@link SyncSettings#syncEvery} steps
     * are done (or, {@code finishing}, any steps at all), and closes the round when every awaited replica has
     * contributed or the wait is over. True when the trainer may take a step; false while it waits for a close.
     */
    boolean tick(boolean finishing) {
        read(Duration.ZERO);
        long steps = trainer.step() - roundStartStep;
        if (publishedStep == null && (steps >= settings.syncEvery() || finishing && steps > 0)) publish();
        if (publishedStep != null) {
            maybeClose();
            read(Duration.ofMillis(100)); // waiting: block a little rather than spin
        }
        return publishedStep == null;
    }

    /** Nothing to publish and nothing awaited: the weights are the run's (a finished trainer may stop). */
    boolean settled() {
        return publishedStep == null && trainer.step() == roundStartStep;
    }

    private void read(Duration wait) {
        for (ConsumerRecord<String, byte[]> r : topic.poll(wait)) accept(r);
    }

    private void accept(ConsumerRecord<String, byte[]> r) {
        SyncMessage m = decode(r);
        if (m != null) rounds.accept(r.offset(), m).ifPresent(this::apply);
    }

    private SyncMessage decode(ConsumerRecord<String, byte[]> r) {
        try {
            return SyncMessage.decode(r.value());
        } catch (InvalidPayloadException e) {
            refused("malformed", "?", "offset " + r.offset() + ": " + e.getMessage());
            return null;
        }
    }

    private void refused(String reason, String from, String detail) {
        Metrics.TRAIN_SYNC_REFUSED.labelValues(reason).inc();
        if (replaying && rounds.round() == firstReplayedRound && reason.equals("base") && !from.equals(replica)) {
            foreignBaseRefusals++;
        }
        LOG.warn("millrace.sync record refused ({}): {}", reason, detail);
    }

    /** Publishes the pseudo-gradient, checkpointed first: once it is visible, a restart must not train its rows again. */
    private void publish() {
        float[] delta = progress();
        for (int i = 0; i < delta.length; i++) {
            delta[i] = -delta[i]; // the pseudo-gradient: the weights the round began at minus the weights now
            // one NaN would make every replica's weights NaN: a replica in that state is restarted from its checkpoint
            if (!Float.isFinite(delta[i])) throw new IllegalStateException("pseudo-gradient not finite at " + i + ": not published");
        }
        long step = trainer.step();
        publishedStep = step;
        publishedAtNanos = System.nanoTime();
        closeSent = false;
        host.checkpoint();
        int chunks = (delta.length + SyncMessage.MAX_CHUNK - 1) / SyncMessage.MAX_CHUNK;
        long digest = outer.digest();
        List<SyncMessage> messages = new ArrayList<>(chunks);
        for (int k = 0; k < chunks; k++) {
            int first = k * SyncMessage.MAX_CHUNK;
            int count = Math.min(SyncMessage.MAX_CHUNK, delta.length - first);
            messages.add(new SyncMessage.Chunk(model, replica, rounds.round(), step, (int) (step - roundStartStep),
                    trainer.tokensSeen() - roundStartTokens, digest, k, chunks, delta.length, first, count,
                    settings.encoding(), PseudoGradients.encode(delta, first, count, settings.encoding())));
        }
        long bytes = topic.write(messages);
        LOG.info("round {}: published the pseudo-gradient of steps {}..{} ({} MB)", rounds.round(), roundStartStep, step,
                String.format("%.1f", bytes / 1e6));
    }

    /** Closes the open round once every awaited replica's pseudo-gradient is on the log, or the wait is over. */
    private void maybeClose() {
        if (closeSent) return;
        boolean timedOut = System.nanoTime() - publishedAtNanos >= TimeUnit.MILLISECONDS.toNanos(settings.timeoutMillis());
        Set<String> expected = awaited();
        boolean all = expected != null && rounds.isWaiting(replica, publishedStep) && rounds.waiting().containsAll(expected);
        if (!all && !timedOut) return;
        if (expected == null) expected = rounds.waiting();
        if (!all) LOG.warn("round {}: closing after {} ms with {} of {}", rounds.round(), settings.timeoutMillis(),
                rounds.waiting(), expected);
        topic.write(List.of(new SyncMessage.Close(model, replica, rounds.round(), expected.size())));
        closeSent = true;
    }

    /**
     * The replicas a round waits for: members of the model's group holding shard partitions (looked up every 2 s);
     * null while they cannot be looked up (then a round closes at the timeout).
     */
    private Set<String> awaited() {
        if (System.currentTimeMillis() - awaitedAtMillis < 2000) return awaited;
        awaitedAtMillis = System.currentTimeMillis();
        Set<String> members = topic.members(group, replica);
        if (members != null) awaited = members;
        return awaited;
    }

    /**
     * The outer step of a closed round. A replica whose published pseudo-gradient the close met (summed now, or late
     * and summed by the next round) takes the run's weights; one still in its round keeps its progress on top of them.
     */
    private void apply(SyncLog.Round round) {
        boolean met = publishedStep != null;
        float[] progress = !met && trainer.step() > roundStartStep ? progress() : null;
        if (round.sum() != null) {
            float[] mean = round.sum();
            float n = round.contributions().size();
            for (int i = 0; i < mean.length; i++) mean[i] /= n;
            outer.step(mean);
        }
        for (SyncLog.Contribution c : round.contributions()) {
            runSteps += c.steps();
            runTokens += c.tokens();
            if (replaying && round.round() == firstReplayedRound && !c.replica().equals(replica)) foreignSummed++;
        }
        if (progress != null) {
            float[] base = outer.weights();
            for (int i = 0; i < progress.length; i++) progress[i] += base[i];
            trainer.setWeightVector(progress);
        } else {
            trainer.setWeightVector(outer.weights());
        }
        if (met) {
            if (!replaying) Metrics.TRAIN_SYNC_SECONDS.observe((System.nanoTime() - publishedAtNanos) / 1e9);
            publishedStep = null;
            roundStartStep = trainer.step();
            roundStartTokens = trainer.tokensSeen();
        }
        closeSent = false;
        Metrics.TRAIN_SYNC_ROUNDS.labelValues(round.timedOut() ? "timeout" : "complete").inc();
        Metrics.TRAIN_SYNC_REPLICAS.set(round.onTime());
        Metrics.TRAIN_SYNC_EXPECTED.set(round.expected());
        Metrics.TRAIN_SYNC_ROUND.set(rounds.round());
        long digest = outer.digest();
        record(round, digest, progress != null);
        LOG.info("round {} closed by {}: {} of {} replicas on time, {} pseudo-gradients summed, weights {}{}", round.round(),
                round.closedBy(), round.onTime(), round.expected(), round.contributions().size(), Long.toHexString(digest),
                progress != null ? " (own progress kept on top)" : "");
        firstInLastRound = met && !round.contributions().isEmpty() && round.contributions().get(0).replica().equals(replica);
        if (firstInLastRound && !replaying && System.currentTimeMillis() - lastAnnounceMillis >= announceEveryMillis) {
            host.announce();
            lastAnnounceMillis = System.currentTimeMillis();
        }
    }

    /** This replica's weights minus those its round began at: its progress since. */
    private float[] progress() {
        float[] local = trainer.weightVector();
        float[] base = outer.weights();
        for (int i = 0; i < local.length; i++) local[i] -= base[i];
        return local;
    }

    /**
     * A replica stopping (not failing): what it trained since its last pseudo-gradient goes on the log, so that the
     * rows it committed are in the run's weights even if it never comes back (a scale-down).
     */
    void publishProgress() {
        if (publishedStep == null && trainer.step() > roundStartStep) publish();
    }

    /** Whether this replica's pseudo-gradient came first in the last round: it writes the run's checkpoints. */
    boolean writesRunCheckpoints() {
        return firstInLastRound;
    }

    /** Appends the round to the replica's rounds log: what every replica's copy must agree on. */
    private void record(SyncLog.Round round, long digest, boolean carried) {
        StringBuilder line = new StringBuilder().append(round.round()).append('\t').append(round.closedBy()).append('\t')
                .append(round.expected()).append('\t');
        for (int i = 0; i < round.contributions().size(); i++) {
            SyncLog.Contribution c = round.contributions().get(i);
            line.append(i == 0 ? "" : ",").append(c.replica()).append('@').append(c.step());
        }
        line.append('\t').append(Long.toHexString(digest)).append('\t').append(carried ? "carried" : "run")
                .append('\t').append(replaying ? "replayed" : "live").append('\n');
        try {
            Files.createDirectories(roundsLog.getParent());
            Files.writeString(roundsLog, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            LOG.warn("cannot append to {}: {}", roundsLog, e.toString());
        }
    }

    /** Where the replica stands, for its checkpoint. */
    ReplicaState state() {
        return new ReplicaState(replica, rounds.round(), rounds.afterClose(), rounds.replayFrom(), roundStartStep,
                roundStartTokens, publishedStep, runSteps, runTokens, rounds.closedSteps());
    }

    /** Writes the outer optimizer's state into a checkpoint directory. */
    void writeOuter(Path dir) throws IOException {
        outer.write(dir.resolve(millrace.model.CheckpointFormat.OUTER));
    }

    long runSteps() {
        return runSteps;
    }

    long runTokens() {
        return runTokens;
    }

    @Override
    public void close() {
        topic.close();
    }
}
