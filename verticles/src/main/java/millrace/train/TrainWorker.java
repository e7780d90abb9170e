package millrace.train;

import millrace.model.CheckpointFormat;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import millrace.ProcessLock;
import millrace.kafka.ConsumerLag;
import millrace.kafka.KafkaSettings;
import millrace.kafka.StageVerticle;
import millrace.metrics.Metrics;
import millrace.protocol.Checkpoint;
import millrace.protocol.JsonSerde;
import millrace.protocol.ShardDoc;
import millrace.protocol.Topics;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Tokenizers;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;


/**
 * One incarnation of the train role ({@link TrainVerticle}): reads training shards, takes an optimizer step whenever a
 * batch of rows is ready, and every few seconds checkpoints, commits the positions the weights stand at and announces
 * the checkpoint. Its parts: {@link ShardIntake} (shards to rows), {@link TrainPositions} (where training stands),
 * {@link StepReport} (metrics and log), {@link CheckpointStore} and {@link TrainAudit}. A DiLoCo replica
 * ({@link TrainSettings#sync}) also has a {@link ReplicaSync}: it waits for its rounds, keeps its checkpoints for itself
 * and announces the run's instead.
 */
final class TrainWorker implements StageVerticle.Worker {
    private static final Logger LOG = LoggerFactory.getLogger(TrainWorker.class);

    /** A row waiting to be trained on: where it is in the stream (shard record and row), and the shard's documents. */
    record QueuedRow(int[] tokens, TopicPartition partition, long offset, int row, String shardId, List<ShardDoc> docs) {}

    private final TrainSettings settings;
    private final ByteLevelBpe tokenizer;
    /** The tokenizer's files every checkpoint holds: those of the checkpoint training started from, or written. */
    private final CheckpointFormat.TokenizerFiles tokenizerFiles;
    /** This trainer's checkpoints: the model's own directory, or a DiLoCo replica's under {@code replicas/<id>}. */
    private final CheckpointStore checkpoints;
    /** A DiLoCo run's checkpoints, written and announced by the replica that sums first in a round ({@code <model>/run}). */
    private final CheckpointStore runCheckpoints;
    /** Null for a trainer that trains alone. */
    private final ReplicaSync sync;
    private final TrainAudit audit;
    /** The rows at the queue's head are a batch whose gradients were not finite once: a second failure drops it. */
    private boolean retryingBatch;
    private final NDManager root;
    private final ModelTrainer trainer;
    private final KafkaConsumer<String, byte[]> consumer;
    private final KafkaProducer<String, byte[]> producer;
    private final ArrayDeque<QueuedRow> queue = new ArrayDeque<>();
    private final List<int[]> validation = new ArrayList<>();
    private final ShardIntake intake;
    private final StepReport report;
    private float lastLoss = Float.NaN;
    private Float lastValidationLoss;
    private long lastCheckpointMillis = System.currentTimeMillis();
    private long lastCheckpointStep;
    /** Where the weights stand in each partition, and where reading resumes after a rebalance. */
    private TrainPositions positions = new TrainPositions();
    /** Closing: a partition revoked now is not checkpointed (the worker may be closing after a failure). */
    private boolean closing;
    /** Shard records read (test hook: a rebalance must not re-read far back). */
    long recordsRead;
    /** Test hook: told the rows of every step taken. */
    Consumer<List<QueuedRow>> onStep = rows -> { };
    /** Completed when --max-steps are trained and checkpointed (see {@link TrainVerticle#finished}). */
    private final CompletableFuture<Long> finished;
    private final ProcessLock lock;

    TrainWorker(KafkaSettings kafka, TrainSettings settings, Path checkpointRoot) {
        this(kafka, settings, checkpointRoot, new CompletableFuture<>());
    }

    TrainWorker(KafkaSettings kafka, TrainSettings settings, Path checkpointRoot,
            CompletableFuture<Long> finished) {
        this.settings = settings;
        this.finished = finished;
        // this process's id among the model's trainers (a DiLoCo replica's name)
        String instanceId = kafka.instanceId();
        this.tokenizer = Tokenizers.load(settings.tokenizer());
        // the model's own directory, where a trainer that trains alone writes its checkpoints
        CheckpointStore modelCheckpoints = new CheckpointStore(checkpointRoot, settings.modelName(), settings.keepCheckpoints());
        this.runCheckpoints = new CheckpointStore(modelCheckpoints.dir(), "run", settings.keepCheckpoints());
        this.checkpoints = settings.sync() == null ? modelCheckpoints : new CheckpointStore(
                modelCheckpoints.dir().resolve("replicas"), instanceId, settings.keepCheckpoints());
        // what is opened is closed again if a later part fails (the stage retries every second)
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            this.lock = lockModel(checkpoints.dir());
            opened.add(lock);
            CheckpointStore.cleanLeftovers(checkpoints.dir());
            this.root = ModelTrainer.newRootManager(settings);
            opened.add(root);
            TrainStart start = TrainStart.of(settings, tokenizer, root, checkpoints, runCheckpoints, modelCheckpoints,
                    instanceId);
            this.trainer = start.trainer();
            // the model's tokenizer files go from checkpoint to checkpoint as they are (an imported model's chat
            // template, say); a fresh model's are written from its vocabulary
            this.tokenizerFiles = start.from() != null ? CheckpointFormat.TokenizerFiles.of(start.from())
                    : CheckpointFormat.TokenizerFiles.written(tokenizer, false);
            this.positions = start.positions();
            this.lastLoss = start.lastLoss();
            opened.add(trainer);
            this.lastCheckpointStep = trainer.step();
            this.audit = new TrainAudit(checkpoints.dir().resolve("audit"));
            audit.truncateAfter(trainer.step()); // what was trained after the checkpoint died with its process
            this.intake = new ShardIntake(tokenizer.id(), settings.model().contextLength());
            this.report = new StepReport(trainer.model().flopsPerToken(), PeakFlops.of(root.getDevice(), settings.precision()),
                    root.getDevice(), settings.maxSteps(), trainer.step());
            this.producer = new KafkaProducer<>(kafka.producer("train"));
            opened.add(producer);
            if (settings.sync() == null && trainer.step() == 0 && start.from() != null) {
                // an imported model's first checkpoint: the web role serves it before training writes the next
                announce(start.from(), 0, 0, Map.of(), System.currentTimeMillis());
            }
            // a group per model: two models (a small run beside a big one) each train on every shard
            this.consumer = new KafkaConsumer<>(kafka.staticConsumer(TrainVerticle.consumerGroup(settings.modelName()), 50));
            opened.add(consumer);
            this.sync = settings.sync() == null ? null : new ReplicaSync(kafka, settings.modelName(),
                    TrainVerticle.consumerGroup(settings.modelName()), settings.sync(), trainer, new SyncHost(), start.replica(),
                    start.outerState(),
                    checkpoints.dir().resolve("rounds.tsv"), settings.checkpointEverySeconds() * 1000);
        } catch (IOException e) {
            closeAll(opened);
            throw new UncheckedIOException("cannot open the checkpoints of " + settings.modelName(), e);
        } catch (RuntimeException | Error e) {
            closeAll(opened);
            throw e;
        }
        consumer.subscribe(List.of(Topics.SHARDS), new Rebalance());
        Metrics.TRAIN_LOSS_SCALE.set(trainer.lossScale());
        Metrics.TRAIN_DEVICE_MEMORY.set(0);
        LOG.info("training on {} in {}", root.getDevice(), settings.precision());
    }

    /** One trainer per model and data dir: two would write the same checkpoints. */
    private ProcessLock lockModel(Path modelDir) throws IOException {
        Files.createDirectories(modelDir);
        return ProcessLock.tryLock(modelDir.resolve(".trainer.lock")).orElseThrow(() -> new IllegalStateException(
                "another trainer of model '" + settings.modelName() + "' is running on " + modelDir));
    }

    private static void closeAll(List<AutoCloseable> opened) {
        for (int i = opened.size() - 1; i >= 0; i--) {
            try {
                opened.get(i).close();
            } catch (Exception e) {
                LOG.debug("close failed", e);
            }
        }
    }

    /**
     * A rebalance: before partitions go, the weights that trained on them are checkpointed and their position
     * committed (so whoever takes them next trains each row once) and their queued rows are dropped; when
     * partitions come, reading resumes where training stands ({@link TrainPositions}).
     */
    private final class Rebalance implements org.apache.kafka.clients.consumer.ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) return;
            if (!closing && trainer.step() > lastCheckpointStep) checkpoint();
            drop(partitions);
        }

        @Override
        public void onPartitionsLost(java.util.Collection<TopicPartition> partitions) {
            drop(partitions); // no longer ours to commit: the group's committed position stands
        }

        @Override
        public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) return;
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(new HashSet<>(partitions));
            for (TopicPartition tp : partitions) {
                TrainPositions.At start = positions.assigned(tp.partition(), committed.get(tp));
                if (start != null) consumer.seek(tp, start.offset());
            }
            LOG.info("assigned {} of {}", partitions.stream().map(TopicPartition::partition).sorted().toList(), Topics.SHARDS);
        }

        private void drop(java.util.Collection<TopicPartition> partitions) {
            if (queue.removeIf(row -> partitions.contains(row.partition()))) retryingBatch = false;
        }
    }

    /** Test hook: a rebalance as a pause past the poll interval or a new group member causes one. */
    void forceRebalance() {
        consumer.enforceRebalance();
    }

    /** What a DiLoCo replica's {@link ReplicaSync} asks of the worker. */
    private final class SyncHost implements ReplicaSync.Host {
        @Override
        public void checkpoint() {
            TrainWorker.this.checkpoint();
        }

        @Override
        public void announce() {
            announceRun();
        }
    }

    @Override
    public void step() {
        boolean finishing = settings.maxSteps() > 0 && trainer.step() >= settings.maxSteps();
        if (finishing && (sync == null || sync.settled())) {
            finish();
            return;
        }
        boolean ready = queue.size() >= settings.batchSize();
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(ready ? 0 : 200))) accept(r);
        ConsumerLag.record("train", Topics.SHARDS, consumer);
        // bounded memory: stop fetching while a few batches are already waiting
        if (queue.size() > 8 * settings.batchSize()) consumer.pause(consumer.assignment());
        else consumer.resume(consumer.paused());

        // a replica waits for its round to close before it trains on
        boolean mayTrain = sync == null || sync.tick(finishing);
        if (mayTrain && !finishing && queue.size() >= settings.batchSize()) trainOneStep();
        if (System.currentTimeMillis() - lastCheckpointMillis >= settings.checkpointEverySeconds() * 1000
                && trainer.step() > lastCheckpointStep) {
            checkpoint();
        }
    }

    /**
     * The step budget is spent: a last checkpoint (unless the newest one is of this step; always for a replica, whose
     * weights changed at its last round), a replica's last run checkpoint and its leaving the group; then idle.
     */
    private void finish() {
        if (!finished.isDone()) {
            // a replica's weights changed at its last round without a step: its last checkpoint must hold the run's
            if (trainer.step() > lastCheckpointStep || sync != null) checkpoint();
            if (sync != null) {
                if (sync.writesRunCheckpoints()) announceRun(); // the run's final weights
                leaveGroup(); // the other replicas await group members that hold partitions
            }
            LOG.info("trained {} steps (--max-steps): stopping", trainer.step());
            finished.complete(trainer.step());
        }
        try {
            Thread.sleep(200); // idle without spinning until the process stops
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void accept(ConsumerRecord<String, byte[]> r) {
        recordsRead++;
        intake.accept(r, positions, queue, validation);
    }

    private void trainOneStep() {
        List<int[]> rows = new ArrayList<>(settings.batchSize());
        List<QueuedRow> taken = new ArrayList<>(settings.batchSize());
        while (rows.size() < settings.batchSize()) {
            QueuedRow row = queue.poll();
            taken.add(row);
            rows.add(row.tokens());
        }
        ModelTrainer.StepResult result = trainer.step(rows);
        if (!result.skipped()) {
            for (QueuedRow row : taken) {
                positions.trained(row.partition().partition(), row.offset(), row.row());
                audit.trained(row.shardId(), row.row());
            }
            onStep.accept(taken);
            retryingBatch = false;
        }
        Metrics.TRAIN_LOSS_SCALE.set(trainer.lossScale());
        if (result.overflowed()) {
            // fp16 overflow: the scale is halved and the same rows go again (not a fault, never dropped)
            Metrics.TRAIN_SKIPPED_STEPS.inc();
            requeue(taken);
        } else if (result.skipped()) {
            Metrics.TRAIN_SKIPPED_STEPS.inc();
            if (!retryingBatch) {
                // non-finite gradients have come and gone with the same rows: try the batch once more
                LOG.warn("step {} skipped (loss {}, gradient norm {}): retrying its batch", result.step() + 1,
                        result.loss(), result.gradNorm());
                requeue(taken);
                retryingBatch = true;
            } else {
                LOG.warn("step {} skipped twice: dropping its {} rows (listed in the audit)", result.step() + 1, taken.size());
                for (QueuedRow row : taken) {
                    positions.trained(row.partition().partition(), row.offset(), row.row());
                    audit.dropped(row.shardId(), row.row());
                }
                retryingBatch = false;
            }
        } else {
            lastLoss = result.loss();
            report.taken(result, taken);
        }
        if (settings.evalEverySteps() > 0 && result.step() % settings.evalEverySteps() == 0 && !validation.isEmpty()) {
            lastValidationLoss = trainer.evaluate(validation);
            Metrics.TRAIN_VALIDATION_LOSS.set(lastValidationLoss);
            Metrics.TRAIN_VALIDATION_PERPLEXITY.set(Math.exp(lastValidationLoss));
            LOG.info("step {} validation loss {}", result.step(), String.format("%.4f", lastValidationLoss));
        }
    }

    /** Puts a batch back at the head of the queue, in its order: the next step takes the same rows. */
    private void requeue(List<QueuedRow> taken) {
        for (int i = taken.size() - 1; i >= 0; i--) queue.addFirst(taken.get(i));
    }

    /**
     * Commits the checkpoint's positions as the group's offsets, with the rows of a partly trained shard in the
     * metadata: where the next trainer of these partitions (this one restarted, or another after a rebalance)
     * resumes reading.
     */
    private Map<String, Long> commitPositions() {
        Map<TopicPartition, OffsetAndMetadata> commit = positions.toCommit(consumer.assignment());
        if (!commit.isEmpty()) consumer.commitSync(commit);
        Map<String, Long> published = new HashMap<>();
        commit.forEach((tp, at) -> published.put(Integer.toString(tp.partition()), at.offset()));
        return published;
    }

    /**
     * Saves this trainer's checkpoint and commits its positions; a trainer that trains alone announces it. A replica's
     * carries its place in the run and its outer optimizer ({@link ReplicaSync}); the run's are announced at rounds.
     */
    void checkpoint() {
        long now = System.currentTimeMillis();
        try {
            audit.commit(trainer.step()); // before the checkpoint: a crash in between leaves a segment resume deletes
            Path dir = checkpoints.write(trainer, meta(trainer.step(), trainer.tokensSeen(), positions.forCheckpoint(), now),
                    tokenizerFiles, sync == null ? d -> { } : sync::writeOuter);
            Map<String, Long> offsets = commitPositions();
            if (sync == null) announce(dir, trainer.step(), trainer.tokensSeen(), offsets, now);
            Metrics.TRAIN_CHECKPOINTS.inc();
            LOG.info("checkpoint at step {} in {}", trainer.step(), dir);
        } catch (IOException e) {
            throw new UncheckedIOException("checkpoint failed", e);
        }
        lastCheckpointMillis = now;
        lastCheckpointStep = trainer.step();
    }

    /**
     * A DiLoCo run's checkpoint, in {@code <model>/run}: the weights every replica of the last round holds. Replicas
     * that sum first in successive rounds take turns; one writes at a time (another skips its turn).
     */
    private void announceRun() {
        long now = System.currentTimeMillis();
        try {
            Files.createDirectories(runCheckpoints.dir());
            Optional<ProcessLock> writer = ProcessLock.tryLock(runCheckpoints.dir().resolve(".writer.lock"));
            if (writer.isEmpty()) return;
            try (ProcessLock held = writer.get()) {
                CheckpointStore.cleanLeftovers(runCheckpoints.dir());
                Path dir = runCheckpoints.write(trainer, meta(sync.runSteps(), sync.runTokens(), Map.of(), now), tokenizerFiles,
                        sync::writeOuter);
                announce(dir, sync.runSteps(), sync.runTokens(), Map.of(), now);
                LOG.info("run checkpoint at {} steps of all replicas in {}", sync.runSteps(), dir);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("run checkpoint failed", e);
        }
    }

    private CheckpointFormat.Meta meta(long step, long tokens, Map<String, String> at, long now) {
        return new CheckpointFormat.Meta(settings.modelName(), settings.model(), tokenizer.id(), step, tokens, lastLoss,
                lastValidationLoss, now, at, trainer.seed(), sync == null ? null : sync.state());
    }

    /** Tells the other roles (web, feedback) about a checkpoint on {@code millrace.checkpoints}. */
    private void announce(Path dir, long step, long tokens, Map<String, Long> offsets, long now) {
        Checkpoint record = new Checkpoint(settings.modelName(), step, tokens, offsets, dir.toAbsolutePath().toString(),
                lastLoss, lastValidationLoss == null ? null : lastValidationLoss.doubleValue(), tokenizer.id(), now);
        try {
            producer.send(new ProducerRecord<>(Topics.CHECKPOINTS, settings.modelName(),
                    JsonSerde.checkpoints().toBytes(record))).get();
        } catch (Exception e) {
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            throw new IllegalStateException("announcing the checkpoint failed", e);
        }
    }

    /**
     * Stopping, not failing: a replica hands what it trained since its last pseudo-gradient to the run, and leaves the
     * group at once, so that the others neither wait for it nor leave its partitions idle (it may be a scale-down).
     */
    @Override
    public void stop() {
        try {
            if (sync != null && !finished.isDone()) {
                sync.publishProgress();
                leaveGroup();
            }
        } finally {
            close();
        }
    }

    private void leaveGroup() {
        consumer.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                .withTimeout(Duration.ofSeconds(5)));
    }

    @Override
    public void close() {
        closing = true;
        // each part closed even when one before it fails: a lock left held would refuse every retry in this process
        List<AutoCloseable> parts = new ArrayList<>(List.of(lock, root, trainer, () -> producer.close(Duration.ofSeconds(5))));
        if (sync != null) parts.add(sync);
        parts.add(() -> consumer.close(Duration.ofSeconds(5)));
        closeAll(parts);
    }
}
