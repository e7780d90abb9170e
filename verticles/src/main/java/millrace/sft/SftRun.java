package millrace.sft;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.function.Consumer;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.metrics.Metrics;
import millrace.model.Gpt;
import millrace.model.LearningRateSchedule;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.SftExample;
import millrace.protocol.Topics;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;
import millrace.train.AuditSegments;
import millrace.train.CheckpointStore;
import millrace.train.GptTrainer;
import millrace.train.TrainSettings;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * {@code ./millrace sft}: a pretrained checkpoint fine-tuned on conversations, its loss only on the assistant's turns.
 * The base's tokenizer gains the chat markers (the embedding its rows, each the mean of the old ones); a fresh AdamW
 * starts with warm-up and cosine decay, as TRL's SFTTrainer does. Checkpoints go where the trainer's go, in its
 * format; each records where the run stands — the epoch and the next example of its seeded order, or the offsets of
 * {@code millrace.sft} — so a run killed at any moment resumes from its newest checkpoint and trains every example of
 * an epoch once (the audit beside the checkpoints lists them).
 */
public final class SftRun implements AutoCloseable {
    private static final String EPOCH = "sft.epoch";
    private static final String NEXT = "sft.next";
    private static final String TOPIC_POSITION = "sft.p"; // + partition: the next offset to read

    private final SftSettings settings;
    private final CheckpointStore store;
    private final AuditSegments audit;
    private final Consumer<String> log;
    private final NDManager root;
    private final GptTrainer trainer;
    private final ByteLevelBpe tokenizer;
    private final PromptFormat format;
    private final Map<String, String> resumedAt;
    private final long startStep;

    public SftRun(SftSettings settings, Path dataDir, Consumer<String> log) throws IOException {
        this.settings = settings;
        this.log = log;
        Path root = dataDir.resolve("checkpoints");
        this.store = new CheckpointStore(root, settings.modelName(), settings.keepCheckpoints());
        this.audit = new AuditSegments(root.resolve(settings.modelName()).resolve("audit"), "step");
        this.root = GptTrainer.newRootManager();
        try {
            Optional<Path> latest = store.latest();
            if (latest.isPresent()) {
                CheckpointStore.Meta meta = CheckpointStore.readMeta(latest.get());
                if (!meta.positions().containsKey(EPOCH) && !meta.positions().keySet().stream().anyMatch(k -> k.startsWith(TOPIC_POSITION))) {
                    throw new IllegalArgumentException(settings.modelName() + " already names a model that is not a fine-tuning run ("
                            + latest.get() + "): choose another --model-name");
                }
                tokenizer = CheckpointStore.loadTokenizer(latest.get());
                trainer = CheckpointStore.resume(latest.get(), trainSettings(meta.config(), tokenizer.id()), this.root);
                resumedAt = meta.positions();
                audit.truncateAfter(meta.step());
                log.accept("resuming " + settings.modelName() + " from " + latest.get() + " (step " + meta.step() + ")");
            } else {
                CheckpointStore.Meta base = CheckpointStore.readMeta(CheckpointStore.requireCheckpoint(settings.base()));
                tokenizer = ChatTemplate.withMarkers(CheckpointStore.loadTokenizer(settings.base()));
                Gpt grown;
                try (Gpt loaded = CheckpointStore.loadModel(settings.base(), this.root)) {
                    grown = loaded.withVocabulary(tokenizer.vocabSize(), this.root);
                }
                trainer = new GptTrainer(trainSettings(grown.config(), tokenizer.id()), this.root, grown, 0, 0);
                resumedAt = Map.of();
                log.accept("fine-tuning " + settings.base() + " as " + settings.modelName() + (base.config().vocabSize() == tokenizer.vocabSize()
                        ? ": its vocabulary has the chat markers"
                        : ": vocabulary " + base.config().vocabSize() + " -> " + tokenizer.vocabSize() + " (the chat markers)"));
            }
        } catch (IOException | RuntimeException e) {
            this.root.close();
            throw e;
        }
        this.format = PromptFormat.of(tokenizer, true);
        this.startStep = trainer.step();
    }

    /** Warm-up, then cosine decay to the floor at the run's last step; no dropout; AdamW's defaults. */
    private TrainSettings trainSettings(millrace.model.GptConfig config, String tokenizerId) {
        var noDropout = new millrace.model.GptConfig(config.nLayer(), config.nHead(), config.nEmbd(), config.blockSize(),
                config.vocabSize(), 0f);
        long last = settings.maxSteps() > 0 ? settings.maxSteps() : 1_000_000;
        TrainSettings demo = TrainSettings.tinyDemo(tokenizerId, config.vocabSize(), config.blockSize());
        return new TrainSettings(settings.modelName(), noDropout, tokenizerId, settings.batchSize(),
                new LearningRateSchedule(settings.learningRate(), settings.minLearningRate(), settings.warmupSteps(), last),
                demo.clipNorm(), demo.adam(), settings.seed(), settings.checkpointEverySeconds(), settings.keepCheckpoints(), 0);
    }

    public GptTrainer trainer() {
        return trainer;
    }

    public PromptFormat format() {
        return format;
    }

    /**
     * The examples of a file as the model's rows: a conversation its context does not hold is left out (counted, with
     * the bad lines) rather than cut in the middle of a turn.
     */
    public List<Row> rows(List<SftExample> examples) {
        List<Row> out = new ArrayList<>();
        int tooLong = 0;
        for (SftExample e : examples) {
            ScoredSequence s = format.conversation(e.messages(), trainer.model().config().blockSize());
            if (s == null) {
                tooLong++;
                Metrics.SFT_EXAMPLES.labelValues("too_long").inc();
                continue;
            }
            out.add(new Row(e.id(), s));
        }
        if (tooLong > 0) {
            log.accept(tooLong + " examples do not fit the context of " + trainer.model().config().blockSize()
                    + " tokens and are left out");
        }
        return out;
    }

    /** An example as a row of the model, and its id (for the audit). */
    public record Row(String id, ScoredSequence sequence) {}

    /** Epochs over a file's rows, from where the run stands; returns the steps taken in all. */
    public long trainFile(List<Row> rows) throws IOException {
        if (rows.isEmpty()) throw new IllegalArgumentException("no example to train on");
        int perEpoch = (rows.size() + settings.batchSize() - 1) / settings.batchSize();
        long total = settings.maxSteps() > 0 ? Math.min(settings.maxSteps(), (long) perEpoch * settings.epochs())
                : (long) perEpoch * settings.epochs();
        // the cosine ends at the run's last step, now that the data says which it is
        trainer.useSchedule(new LearningRateSchedule(settings.learningRate(), settings.minLearningRate(), settings.warmupSteps(), total));
        int epoch = Integer.parseInt(resumedAt.getOrDefault(EPOCH, "0"));
        int next = Integer.parseInt(resumedAt.getOrDefault(NEXT, "0"));
        Progress progress = new Progress(total);
        StringBuilder trained = new StringBuilder();
        long lastCheckpoint = System.currentTimeMillis();
        while (epoch < settings.epochs() && trainer.step() < total) {
            List<Integer> order = order(rows.size(), epoch);
            while (next < rows.size() && trainer.step() < total) {
                List<ScoredSequence> batch = new ArrayList<>();
                List<String> ids = new ArrayList<>();
                for (int i = next; i < Math.min(rows.size(), next + settings.batchSize()); i++) {
                    Row r = rows.get(order.get(i));
                    batch.add(r.sequence());
                    ids.add(r.id());
                }
                SftStep.Result result = SftStep.step(trainer, batch, settings.packed());
                next += batch.size();
                for (String id : ids) trained.append(epoch).append('\t').append(id).append(result.skipped() ? "\tdropped\n" : "\n");
                Metrics.SFT_EXAMPLES.labelValues("trained").inc(batch.size());
                progress.step(result, epoch);
                boolean end = next >= rows.size() && epoch + 1 >= settings.epochs() || trainer.step() >= total;
                if (end || System.currentTimeMillis() - lastCheckpoint >= settings.checkpointEverySeconds() * 1000) {
                    int e = next >= rows.size() ? epoch + 1 : epoch;
                    checkpoint(Map.of(EPOCH, Integer.toString(e), NEXT, Integer.toString(next >= rows.size() ? 0 : next)),
                            trained, result.loss());
                    lastCheckpoint = System.currentTimeMillis();
                }
            }
            epoch++;
            next = 0;
        }
        return trainer.step() - startStep;
    }

    /**
     * Examples from {@code millrace.sft} as they come, from the offsets of the newest checkpoint, until
     * {@code maxSteps}: a streaming instruction set. Bad records are counted and skipped. A checkpoint's offsets stop
     * at the first example not yet trained in each partition, so one polled but still waiting for its batch is read
     * again after a restart, not lost.
     */
    public long trainTopic(KafkaSettings kafka) throws IOException {
        Progress progress = new Progress(settings.maxSteps());
        StringBuilder trained = new StringBuilder();
        long lastCheckpoint = System.currentTimeMillis();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(kafka.consumer(null, settings.batchSize()))) {
            List<TopicPartition> partitions = TopicReader.partitions(consumer, Topics.SFT);
            consumer.assign(partitions);
            Map<Integer, Long> consumed = new HashMap<>(); // per partition, the offset after the last record read
            for (TopicPartition tp : partitions) {
                long at = Long.parseLong(resumedAt.getOrDefault(TOPIC_POSITION + tp.partition(), "0"));
                consumer.seek(tp, at);
                consumed.put(tp.partition(), at);
            }
            List<Waiting> waiting = new ArrayList<>();
            long lastRecord = System.currentTimeMillis();
            long lastIdleLine = 0;
            while (trainer.step() < settings.maxSteps()) {
                var records = consumer.poll(Duration.ofMillis(500));
                long now = System.currentTimeMillis();
                if (!records.isEmpty()) {
                    lastRecord = now;
                } else if (now - lastRecord > 10_000 && now - lastIdleLine > 30_000) {
                    lastIdleLine = now;
                    log.accept("waiting for examples on " + Topics.SFT + " (./millrace sft publish FILE): step " + trainer.step()
                            + " of " + settings.maxSteps() + ", " + waiting.size() + " examples wait for a batch");
                }
                for (ConsumerRecord<String, byte[]> r : records) {
                    consumed.put(r.partition(), r.offset() + 1);
                    try {
                        SftExample e = JsonSerde.sftExamples().fromBytes(r.value());
                        for (Row row : rows(List.of(e))) waiting.add(new Waiting(row, r.partition(), r.offset()));
                    } catch (InvalidPayloadException bad) {
                        Metrics.SFT_EXAMPLES.labelValues("malformed").inc();
                        log.accept(Topics.SFT + "/" + r.partition() + "@" + r.offset() + " is not an example: " + bad.getMessage());
                    }
                }
                if (waiting.size() < settings.batchSize()) continue;
                List<Waiting> batch = new ArrayList<>(waiting.subList(0, settings.batchSize()));
                waiting.subList(0, settings.batchSize()).clear();
                SftStep.Result result = SftStep.step(trainer, batch.stream().map(w -> w.row().sequence()).toList(), settings.packed());
                for (Waiting w : batch) trained.append("topic\t").append(w.row().id()).append(result.skipped() ? "\tdropped\n" : "\n");
                Metrics.SFT_EXAMPLES.labelValues("trained").inc(batch.size());
                progress.step(result, 0);
                if (trainer.step() >= settings.maxSteps()
                        || System.currentTimeMillis() - lastCheckpoint >= settings.checkpointEverySeconds() * 1000) {
                    checkpoint(topicPositions(consumed, waiting), trained, result.loss());
                    lastCheckpoint = System.currentTimeMillis();
                }
            }
        }
        return trainer.step() - startStep;
    }

    /** An example read from the topic that waits for a batch, and where it was read. */
    private record Waiting(Row row, int partition, long offset) {}

    private static Map<String, String> topicPositions(Map<Integer, Long> consumed, List<Waiting> waiting) {
        Map<Integer, Long> next = new HashMap<>(consumed);
        for (Waiting w : waiting) next.merge(w.partition(), w.offset(), Math::min);
        Map<String, String> out = new HashMap<>();
        next.forEach((partition, offset) -> out.put(TOPIC_POSITION + partition, Long.toString(offset)));
        return out;
    }

    private List<Integer> order(int n, int epoch) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < n; i++) order.add(i);
        Collections.shuffle(order, new Random(settings.seed() * 1_000_003L + epoch));
        return order;
    }

    /** The audit segment of what was trained since the last checkpoint, then the checkpoint (as the trainer does). */
    private void checkpoint(Map<String, String> positions, StringBuilder trained, float loss) throws IOException {
        audit.write(trainer.step(), trained);
        trained.setLength(0);
        Path dir = store.write(trainer, new CheckpointStore.Meta(settings.modelName(), trainer.model().config(),
                tokenizer.id(), trainer.step(), trainer.tokensSeen(), loss, null, System.currentTimeMillis(), positions,
                trainer.seed()), tokenizer, true);
        log.accept("checkpoint at step " + trainer.step() + " in " + dir);
    }

    /** Progress lines: step of total, epoch, loss, learning rate, tokens per second, time left. */
    private final class Progress {
        private final long total;
        private final long started = System.nanoTime();
        private final long firstStep = trainer.step();
        private long lastLine;

        Progress(long total) {
            this.total = total;
        }

        void step(SftStep.Result r, int epoch) {
            long now = System.nanoTime();
            Metrics.SFT_STEPS.inc();
            Metrics.SFT_LOSS.set(r.loss());
            if (now - lastLine < 2_000_000_000L && trainer.step() < total) return;
            lastLine = now;
            double seconds = (now - started) / 1e9;
            long done = trainer.step() - firstStep;
            double perStep = seconds / Math.max(1, done);
            long left = (long) ((total - trainer.step()) * perStep);
            log.accept(String.format("step %d/%d epoch %d loss %.4f (%d answer tokens) lr %.2e, %.0f tokens/s, ETA %d:%02d:%02d",
                    trainer.step(), total, epoch + 1, r.loss(), r.scoredTokens(),
                    r.learningRate(), done * (double) r.tokens() / seconds, left / 3600, left / 60 % 60, left % 60));
        }
    }

    @Override
    public void close() {
        trainer.close();
        root.close();
    }
}
