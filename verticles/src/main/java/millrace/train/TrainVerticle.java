package millrace.train;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Set;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import millrace.kafka.ConsumerLag;
import millrace.kafka.KafkaSettings;
import millrace.kafka.StageVerticle;
import millrace.metrics.Metrics;
import millrace.model.Gpt;
import millrace.protocol.Checkpoint;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.ShardDoc;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Tokenizers;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The train role: reads training shards from {@code millrace.shards}, takes an optimizer step whenever a batch of
 * rows is ready, commits the offsets of shards it has fully trained on, and every few seconds saves a checkpoint and
 * announces it on {@code millrace.checkpoints}. Validation shards feed a held-out set for the validation loss.
 */
public final class TrainVerticle extends StageVerticle {
    private static final Logger LOG = LoggerFactory.getLogger(TrainVerticle.class);

    private final java.util.concurrent.CompletableFuture<Long> finished;

    public TrainVerticle(KafkaSettings kafka, TrainSettings settings, Path checkpointRoot) {
        this(kafka, settings, checkpointRoot, new java.util.concurrent.CompletableFuture<>());
    }

    private TrainVerticle(KafkaSettings kafka, TrainSettings settings, Path checkpointRoot,
            java.util.concurrent.CompletableFuture<Long> finished) {
        super("train", vertx -> new TrainWorker(kafka, settings, checkpointRoot, finished));
        this.finished = finished;
    }

    /** Completes with the last step once {@link TrainSettings#maxSteps} are trained and checkpointed; never without one. */
    public java.util.concurrent.CompletableFuture<Long> finished() {
        return finished;
    }

    /** The consumer group a model's trainer reads {@code millrace.shards} in. */
    public static String consumerGroup(String modelName) {
        return "millrace-train." + modelName;
    }

    /** A row waiting to be trained on: where it is in the stream (shard record and row), and the shard's documents. */
    record QueuedRow(int[] tokens, TopicPartition partition, long offset, int row, String shardId, List<ShardDoc> docs) {}

    static final class TrainWorker implements StageVerticle.Worker {
        private static final int MAX_VALIDATION_ROWS = 64;

        private final TrainSettings settings;
        private final ByteLevelBpe tokenizer;
        private final CheckpointStore checkpoints;
        private final TrainAudit audit;
        /** The rows at the queue's head are a batch whose gradients were not finite once: a second failure drops it. */
        private boolean retryingBatch;
        private final NDManager root;
        private final GptTrainer trainer;
        private final KafkaConsumer<String, byte[]> consumer;
        private final KafkaProducer<String, byte[]> producer;
        private final ArrayDeque<QueuedRow> queue = new ArrayDeque<>();
        private final List<int[]> validation = new ArrayList<>();
        private final double flopsPerToken;
        private final java.util.OptionalDouble peakFlops;
        private float lastLoss = Float.NaN;
        private Float lastValidationLoss;
        private long lastCheckpointMillis = System.currentTimeMillis();
        private long lastCheckpointStep;
        /** Where the weights stand in each partition: {offset of a shard, rows of it trained}; see CheckpointStore.Meta. */
        private final Map<Integer, long[]> position = new HashMap<>();
        /** The position of the checkpoint this worker resumed from: rows before it are skipped when read again. */
        private final Map<Integer, long[]> resumedAt = new HashMap<>();
        /** Test hook: told the rows of every step taken. */
        java.util.function.Consumer<List<QueuedRow>> onStep = rows -> { };
        /** Completed when --max-steps are trained and checkpointed (see {@link TrainVerticle#finished}). */
        private final java.util.concurrent.CompletableFuture<Long> finished;
        /** Where this worker started, for the ETA. */
        private final long startedNanos = System.nanoTime();
        private final long startedStep;
        /** Documents whose freshness was observed lately: a document's tokens can span a few shards. */
        private final Set<String> fresh = Collections.newSetFromMap(new LinkedHashMap<>(1024, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > 8192;
            }
        });

        TrainWorker(KafkaSettings kafka, TrainSettings settings, Path checkpointRoot) {
            this(kafka, settings, checkpointRoot, new java.util.concurrent.CompletableFuture<>());
        }

        TrainWorker(KafkaSettings kafka, TrainSettings settings, Path checkpointRoot,
                java.util.concurrent.CompletableFuture<Long> finished) {
            this.settings = settings;
            this.finished = finished;
            this.root = GptTrainer.newRootManager(settings);
            this.tokenizer = Tokenizers.load(settings.tokenizer());
            this.checkpoints = new CheckpointStore(checkpointRoot, settings.modelName(), settings.keepCheckpoints());
            this.trainer = resumeOrStart();
            this.lastCheckpointStep = trainer.step();
            this.startedStep = trainer.step();
            this.audit = new TrainAudit(checkpointRoot.resolve(settings.modelName()).resolve("audit"));
            audit.truncateAfter(trainer.step()); // what was trained after the checkpoint died with its process
            this.flopsPerToken = trainer.model().flopsPerToken();
            this.peakFlops = PeakFlops.of(root.getDevice(), settings.precision());
            this.producer = new KafkaProducer<>(kafka.producer("train"));
            // a group per model: two models (a small run beside a big one) each train on every shard
            this.consumer = new KafkaConsumer<>(kafka.staticConsumer(consumerGroup(settings.modelName()), 50));
            // the checkpoint, not the group's offsets, says where the weights stand: resume reading there
            this.consumer.subscribe(List.of(Topics.SHARDS), new org.apache.kafka.clients.consumer.ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {}

                @Override
                public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {
                    for (TopicPartition tp : partitions) {
                        long[] at = resumedAt.get(tp.partition());
                        if (at != null) consumer.seek(tp, at[0]);
                    }
                }
            });
            Metrics.TRAIN_LOSS_SCALE.set(trainer.lossScale());
            Metrics.TRAIN_DEVICE_MEMORY.set(0);
            LOG.info("training on {} in {}", root.getDevice(), settings.precision());
        }

        private GptTrainer resumeOrStart() {
            try {
                Optional<Path> latest = checkpoints.latest();
                if (latest.isPresent()) {
                    CheckpointStore.Meta meta = CheckpointStore.readMeta(latest.get());
                    if (meta.config().equals(settings.model()) && meta.tokenizerId().equals(tokenizer.id())) {
                        LOG.info("resuming {} from {} (step {})", settings.modelName(), latest.get(), meta.step());
                        lastLoss = meta.trainLoss();
                        meta.positions().forEach((p, at) -> {
                            String[] parts = at.split(":");
                            long[] where = {Long.parseLong(parts[0]), Long.parseLong(parts[1])};
                            resumedAt.put(Integer.parseInt(p), where);
                            position.put(Integer.parseInt(p), where.clone());
                        });
                        return CheckpointStore.resume(latest.get(), settings, root);
                    }
                    LOG.warn("checkpoint {} has another config or tokenizer; starting a new model", latest.get());
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read checkpoints", e);
            }
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed((int) settings.seed());
            Gpt gpt = Gpt.initialize(settings.model(), root);
            LOG.info("new {} model: {} parameters, {}", settings.modelName(), gpt.parameterCount(), settings.model());
            return new GptTrainer(settings, root, gpt, 0, 0);
        }

        @Override
        public void step() {
            if (settings.maxSteps() > 0 && trainer.step() >= settings.maxSteps()) {
                finish();
                return;
            }
            boolean ready = queue.size() >= settings.batchSize();
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(ready ? 0 : 200))) accept(r);
            ConsumerLag.record("train", Topics.SHARDS, consumer);
            // bounded memory: stop fetching while a few batches are already waiting
            if (queue.size() > 8 * settings.batchSize()) consumer.pause(consumer.assignment());
            else consumer.resume(consumer.paused());

            if (queue.size() >= settings.batchSize()) trainOneStep();
            if (System.currentTimeMillis() - lastCheckpointMillis >= settings.checkpointEverySeconds() * 1000
                    && trainer.step() > lastCheckpointStep) {
                checkpoint();
            }
        }

        /** The step budget is spent: a last checkpoint (unless the newest one is of this step), then idle. */
        private void finish() {
            if (!finished.isDone()) {
                if (trainer.step() > lastCheckpointStep) checkpoint();
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
            TokenShard shard;
            try {
                shard = TokenShardCodec.decode(r.value());
            } catch (InvalidPayloadException e) {
                LOG.warn("skipping malformed shard at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.getMessage());
                Metrics.TRAIN_SHARDS.labelValues("malformed").inc();
                return;
            }
            if (!shard.tokenizerId().equals(tokenizer.id())) {
                LOG.warn("refusing shard {}: tokenizer {} is not the model's {}", shard.id(), shard.tokenizerId(),
                        tokenizer.id());
                Metrics.TRAIN_SHARDS.labelValues("refused_tokenizer").inc();
                return;
            }
            if (shard.seqLen() > settings.model().blockSize()) {
                LOG.warn("refusing shard {}: sequence length {} exceeds the model's {}", shard.id(), shard.seqLen(),
                        settings.model().blockSize());
                Metrics.TRAIN_SHARDS.labelValues("refused_seq_len").inc();
                return;
            }
            Metrics.TRAIN_SHARDS.labelValues("accepted").inc();
            int row = shard.seqLen() + 1;
            TopicPartition tp = new TopicPartition(r.topic(), r.partition());
            long[] resume = resumedAt.get(r.partition());
            int skip = 0;
            if (resume != null && shard.split() == Split.TRAIN) {
                if (r.offset() < resume[0]) return; // trained into the weights we resumed from
                if (r.offset() == resume[0]) skip = (int) resume[1];
            }
            for (int i = skip; i < shard.rows(); i++) {
                int[] tokens = java.util.Arrays.copyOfRange(shard.tokens(), i * row, (i + 1) * row);
                if (shard.split() == Split.VAL) {
                    if (validation.size() < MAX_VALIDATION_ROWS) validation.add(tokens);
                } else {
                    queue.add(new QueuedRow(tokens, tp, r.offset(), i, shard.id(), shard.docs()));
                }
            }
        }

        private void trainOneStep() {
            List<int[]> rows = new ArrayList<>(settings.batchSize());
            List<QueuedRow> taken = new ArrayList<>(settings.batchSize());
            while (rows.size() < settings.batchSize()) {
                QueuedRow row = queue.poll();
                taken.add(row);
                rows.add(row.tokens());
            }
            GptTrainer.StepResult result = trainer.step(rows);
            if (!result.skipped()) {
                observeFreshness(taken);
                for (QueuedRow row : taken) {
                    position.put(row.partition().partition(), new long[] {row.offset(), row.row() + 1});
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
                        position.put(row.partition().partition(), new long[] {row.offset(), row.row() + 1});
                        audit.dropped(row.shardId(), row.row());
                    }
                    retryingBatch = false;
                }
            } else {
                lastLoss = result.loss();
                Metrics.TRAIN_STEPS.inc();
                Metrics.TRAIN_TOKENS.inc(result.tokens());
                Metrics.TRAIN_LOSS.set(result.loss());
                Metrics.TRAIN_LEARNING_RATE.set(result.learningRate());
                Metrics.TRAIN_GRAD_NORM.set(result.gradNorm());
                Metrics.TRAIN_TOKENS_PER_SECOND.set(result.tokens() / result.seconds());
                double flops = flopsPerToken * result.tokens() / result.seconds();
                Metrics.TRAIN_MODEL_FLOPS.set(flops);
                if (peakFlops.isPresent()) Metrics.TRAIN_MFU.set(flops / peakFlops.getAsDouble());
                Metrics.TRAIN_STEP_SECONDS.observe(result.seconds());
                if (result.step() % 10 == 0) observeDeviceMemory();
                if (result.step() % 10 == 0 || result.step() <= 1) {
                    LOG.info("step {}{} loss {} lr {} grad norm {} ({} tokens/s){}", result.step(),
                            settings.maxSteps() > 0 ? "/" + settings.maxSteps() : "",
                            String.format("%.4f", result.loss()), String.format("%.2e", result.learningRate()),
                            String.format("%.3f", result.gradNorm()), Math.round(result.tokens() / result.seconds()), eta());
                }
            }
            if (settings.evalEverySteps() > 0 && result.step() % settings.evalEverySteps() == 0 && !validation.isEmpty()) {
                lastValidationLoss = trainer.evaluate(validation);
                Metrics.TRAIN_VALIDATION_LOSS.set(lastValidationLoss);
                Metrics.TRAIN_VALIDATION_PERPLEXITY.set(Math.exp(lastValidationLoss));
                LOG.info("step {} validation loss {}", result.step(), String.format("%.4f", lastValidationLoss));
            }
        }

        /** GPU memory in use; quietly nothing where CUDA's runtime library cannot be found to ask. */
        private void observeDeviceMemory() {
            if (!root.getDevice().isGpu()) return;
            try {
                Metrics.TRAIN_DEVICE_MEMORY.set(ai.djl.util.cuda.CudaUtils.getGpuMemory(root.getDevice()).getUsed());
            } catch (RuntimeException | LinkageError e) {
                LOG.debug("no GPU memory reading: {}", e.toString());
            }
        }

        /** ", ETA 12:34" towards --max-steps at the pace since this worker started, or nothing. */
        private String eta() {
            long done = trainer.step() - startedStep;
            if (settings.maxSteps() <= 0 || done <= 0) return "";
            double perStep = (System.nanoTime() - startedNanos) / 1e9 / done;
            long seconds = Math.round(perStep * (settings.maxSteps() - trainer.step()));
            return String.format(", ETA %d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60);
        }

        /** Puts a batch back at the head of the queue, in its order: the next step takes the same rows. */
        private void requeue(List<QueuedRow> taken) {
            for (int i = taken.size() - 1; i >= 0; i--) queue.addFirst(taken.get(i));
        }

        /** Ingest-to-training time of the documents whose tokens this step used first. */
        private void observeFreshness(List<QueuedRow> taken) {
            long now = System.currentTimeMillis();
            for (QueuedRow row : taken) {
                for (ShardDoc doc : row.docs()) {
                    if (fresh.add(doc.id())) Metrics.TRAIN_FRESHNESS_SECONDS.observe((now - doc.ingestedAtMillis()) / 1000.0);
                }
            }
        }

        /**
         * Commits the checkpoint's position as the group's offsets (for lag and for a trainer that starts without
         * checkpoints); the shard at a position's offset may be partly trained, so it is where reading resumes.
         */
        private Map<String, Long> commitPositions() {
            Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
            Map<String, Long> published = new HashMap<>();
            position.forEach((p, at) -> {
                commit.put(new TopicPartition(Topics.SHARDS, p), new OffsetAndMetadata(at[0]));
                published.put(Integer.toString(p), at[0]);
            });
            if (!commit.isEmpty()) consumer.commitSync(commit);
            return published;
        }

        void checkpoint() {
            long now = System.currentTimeMillis();
            Map<String, String> positions = new HashMap<>();
            position.forEach((p, at) -> positions.put(Integer.toString(p), at[0] + ":" + at[1]));
            CheckpointStore.Meta meta = new CheckpointStore.Meta(settings.modelName(), settings.model(),
                    tokenizer.id(), trainer.step(), trainer.tokensSeen(), lastLoss, lastValidationLoss, now, positions,
                    trainer.seed());
            try {
                audit.commit(trainer.step()); // before the checkpoint: a crash in between leaves a segment resume deletes
                Path dir = checkpoints.write(trainer, meta, tokenizer);
                Map<String, Long> offsets = commitPositions();
                Checkpoint record = new Checkpoint(settings.modelName(), trainer.step(), trainer.tokensSeen(), offsets,
                        dir.toAbsolutePath().toString(), lastLoss,
                        lastValidationLoss == null ? null : lastValidationLoss.doubleValue(), tokenizer.id(), now);
                producer.send(new ProducerRecord<>(Topics.CHECKPOINTS, settings.modelName(),
                        JsonSerde.checkpoints().toBytes(record))).get();
                Metrics.TRAIN_CHECKPOINTS.inc();
                LOG.info("checkpoint at step {} in {}", trainer.step(), dir);
            } catch (IOException e) {
                throw new UncheckedIOException("checkpoint failed", e);
            } catch (Exception e) {
                throw new IllegalStateException("announcing the checkpoint failed", e);
            }
            lastCheckpointMillis = now;
            lastCheckpointStep = trainer.step();
        }

        @Override
        public void close() {
            try {
                consumer.close(Duration.ofSeconds(5));
                producer.close(Duration.ofSeconds(5));
            } finally {
                trainer.close();
                root.close();
            }
        }
    }
}
