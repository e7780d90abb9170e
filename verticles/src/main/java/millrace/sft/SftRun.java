package millrace.sft;

import millrace.model.ModelConfig;

import millrace.model.BaseModel;
import millrace.model.CheckpointFormat;
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
import millrace.model.LanguageModel;
import millrace.model.LearningRateSchedule;
import millrace.protocol.InvalidPayloadException;
import millrace.protocol.JsonSerde;
import millrace.protocol.SftExample;
import millrace.protocol.Topics;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;
import millrace.train.AuditSegments;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * {@code ./millrace sft}: a pretrained checkpoint fine-tuned on conversations, its loss only on the assistant's turns.
 * The base's tokenizer gains the chat markers (the embedding its rows, each the mean of the old ones); a fresh AdamW
 * (nanoGPT's: β 0.9/0.95, weight decay 0.1) starts with linear warm-up and cosine decay to the run's last step (TRL's
 * SFTTrainer decays linearly by default). Checkpoints go where the trainer's go, in its format; each records where the
 * run stands — the epoch and the next example of its seeded order, or the offsets of {@code millrace.sft} — and what
 * the run is (its base, its examples, its length), so a run killed at any moment resumes from its newest checkpoint,
 * trains every example of an epoch once (the audit beside the checkpoints lists them), and refuses to resume on other
 * data.
 */
public final class SftRun implements AutoCloseable {
    private static final String EPOCH = "sft.epoch";
    private static final String NEXT = "sft.next";
    private static final String TOPIC_POSITION = "sft.p"; // + partition: the next offset to read
    /** What the run is: the base it started from, and (a file's run) its examples, batch and length in steps. */
    private static final String BASE = "sft.base";
    private static final String EXAMPLES = "sft.examples";
    private static final String BATCH = "sft.batch";
    private static final String TOTAL = "sft.total";

    private final SftSettings settings;
    private final CheckpointStore store;
    private final AuditSegments audit;
    private final Consumer<String> log;
    private final NDManager root;
    private final ModelTrainer trainer;
    private final ByteLevelBpe tokenizer;
    /** The tokenizer's files of the run's checkpoints: its base's (with its own chat template), or ChatML's written. */
    private final CheckpointFormat.TokenizerFiles tokenizerFiles;
    private final PromptFormat format;
    private final Map<String, String> resumedAt;
    private final String baseOfRun;
    private final long startStep;

    public SftRun(SftSettings settings, Path dataDir, Consumer<String> log) throws IOException {
        this.settings = settings;
        this.log = log;
        Path checkpoints = dataDir.resolve("checkpoints");
        this.store = new CheckpointStore(checkpoints, settings.modelName(), settings.keepCheckpoints());
        this.audit = new AuditSegments(checkpoints.resolve(settings.modelName()).resolve("audit"), "step");
        Optional<Path> latest = store.latest();
        ChatTemplate template;
        if (latest.isPresent()) {
            CheckpointFormat.Meta meta = CheckpointFormat.readMeta(latest.get());
            Map<String, String> at = meta.positions();
            if (!at.containsKey(EPOCH) && at.keySet().stream().noneMatch(k -> k.startsWith(TOPIC_POSITION))) {
                throw new IllegalArgumentException(settings.modelName() + " already names a model that is not a fine-tuning run ("
                        + latest.get() + "): choose another --model-name");
            }
            Path runDir = checkpoints.resolve(settings.modelName()).toAbsolutePath().normalize();
            Path given = settings.base().toAbsolutePath().normalize();
            if (!given.equals(runDir) && at.containsKey(BASE) && !Path.of(at.get(BASE)).equals(given)) {
                throw new IllegalArgumentException(settings.modelName() + " was fine-tuned from " + at.get(BASE) + ", not "
                        + given + ": leave out --base to resume it, or choose another --model-name");
            }
            tokenizer = CheckpointFormat.loadTokenizer(latest.get());
            template = ChatTemplate.read(latest.get(), tokenizer).orElseGet(() -> ChatTemplate.chatMl(tokenizer));
            tokenizerFiles = CheckpointFormat.TokenizerFiles.of(latest.get());
            this.root = ModelTrainer.newRootManager(trainSettings(meta.config(), tokenizer.id()));
            try {
                trainer = CheckpointStore.resume(latest.get(), trainSettings(meta.config(), tokenizer.id()), this.root);
            } catch (IOException | RuntimeException e) {
                this.root.close();
                throw e;
            }
            resumedAt = at;
            baseOfRun = at.getOrDefault(BASE, "");
            audit.truncateAfter(meta.step());
            log.accept("resuming " + settings.modelName() + " from " + latest.get() + " (step " + meta.step() + ")");
        } else {
            // a checkpoint or a Hugging Face directory; a chat model goes on in its own template, any other learns ChatML
            BaseModel base = BaseModel.of(settings.base());
            Optional<ChatTemplate> own = ChatTemplate.read(base.dir(), base.tokenizer());
            if (own.isPresent()) {
                tokenizer = base.tokenizer();
                template = own.get();
                tokenizerFiles = base.tokenizerFiles();
            } else {
                tokenizer = ChatTemplate.withMarkers(base.tokenizer());
                template = ChatTemplate.chatMl(tokenizer);
                tokenizerFiles = CheckpointFormat.TokenizerFiles.written(tokenizer, true);
            }
            var config = base.config();
            boolean grows = tokenizer.vocabSize() > config.vocabSize(); // the markers added after its last id
            TrainSettings grownSettings = trainSettings(grows ? config.withVocabulary(tokenizer.vocabSize()) : config,
                    tokenizer.id());
            this.root = ModelTrainer.newRootManager(grownSettings);
            try {
                LanguageModel grown = base.load(this.root);
                if (grows) {
                    try (LanguageModel loaded = grown) {
                        grown = loaded.withVocabulary(tokenizer.vocabSize(), this.root);
                    }
                }
                trainer = new ModelTrainer(grownSettings, this.root, grown, 0, 0);
            } catch (IOException | RuntimeException e) {
                this.root.close();
                throw e;
            }
            resumedAt = Map.of();
            baseOfRun = base.dir().toAbsolutePath().normalize().toString();
            log.accept("fine-tuning " + base.dir() + " as " + settings.modelName() + " on " + grownSettings.resolveDevice()
                    + (own.isPresent() ? " in its own chat template (" + own.get().origin() + ")"
                            : config.vocabSize() >= tokenizer.vocabSize() ? ": its vocabulary has the chat markers"
                            : ": vocabulary " + config.vocabSize() + " -> " + tokenizer.vocabSize() + " (the chat markers)"));
        }
        this.format = PromptFormat.of(tokenizer, template);
        this.startStep = trainer.step();
    }

    /**
     * Linear warm-up, then cosine decay to the floor at the run's last step (set once the data says which it is); no
     * dropout; nanoGPT's AdamW; the settings' device, in fp32.
     */
    private TrainSettings trainSettings(millrace.model.ModelConfig config, String tokenizerId) {
        long last = settings.maxSteps() > 0 ? settings.maxSteps() : 1_000_000;
        TrainSettings demo = TrainSettings.tinyDemo(tokenizerId, config.vocabSize(), config.contextLength());
        return new TrainSettings(settings.modelName(), config.withDropout(0f), tokenizerId, settings.batchSize(),
                new LearningRateSchedule(settings.learningRate(), settings.minLearningRate(), settings.warmupSteps(), last),
                demo.clipNorm(), demo.adam(), settings.seed(), settings.checkpointEverySeconds(), settings.keepCheckpoints(), 0)
                .withHardware(TrainSettings.Precision.FP32, settings.device());
    }

    public ModelTrainer trainer() {
        return trainer;
    }

    /**
     * The examples of a file as the model's rows: a conversation its context does not hold is left out (counted, with
     * the bad lines) rather than cut in the middle of a turn.
     */
    public List<Row> rows(List<SftExample> examples) {
        List<Row> out = new ArrayList<>();
        int tooLong = 0;
        for (SftExample e : examples) {
            ScoredSequence s = format.conversation(e.messages(), trainer.model().config().contextLength());
            if (s == null) {
                tooLong++;
                Metrics.SFT_EXAMPLES.labelValues("too_long").inc();
                continue;
            }
            out.add(new Row(e.id(), e.source(), s));
        }
        if (tooLong > 0) {
            log.accept(tooLong + " examples do not fit the context of " + trainer.model().config().contextLength()
                    + " tokens and are left out");
        }
        return out;
    }

    /** An example as a row of the model, with its id and where it came from (for the audit). */
    public record Row(String id, String source, ScoredSequence sequence) {}

    /** Epochs over a file's rows, from where the run stands; returns the steps taken in all. */
    public long trainFile(List<Row> rows) throws IOException {
        if (rows.isEmpty()) throw new IllegalArgumentException("no example to train on");
        int perEpoch = (rows.size() + settings.batchSize() - 1) / settings.batchSize();
        // --max-steps overrides --epochs, as max_steps does in Hugging Face's Trainer and TRL: the file again and again
        long total = settings.maxSteps() > 0 ? settings.maxSteps() : (long) perEpoch * settings.epochs();
        Map<String, String> run = Map.of(BASE, baseOfRun, EXAMPLES, examplesFingerprint(rows), BATCH,
                Integer.toString(settings.batchSize()), TOTAL, Long.toString(total));
        for (String key : List.of(EXAMPLES, BATCH, TOTAL)) {
            if (resumedAt.containsKey(key) && !resumedAt.get(key).equals(run.get(key))) {
                throw new IllegalArgumentException(settings.modelName() + " is a run of " + describe(resumedAt) + "; this one "
                        + "would be " + describe(run) + ": resume it with the same file, --batch-size, --epochs and "
                        + "--max-steps, or fine-tune under another --model-name");
            }
        }
        // the cosine ends at the run's last step, now that the data says which it is
        trainer.useSchedule(new LearningRateSchedule(settings.learningRate(), settings.minLearningRate(), settings.warmupSteps(), total));
        int epoch = Integer.parseInt(resumedAt.getOrDefault(EPOCH, "0"));
        int next = Integer.parseInt(resumedAt.getOrDefault(NEXT, "0"));
        Progress progress = new Progress(total);
        StringBuilder trained = new StringBuilder();
        long lastCheckpoint = System.currentTimeMillis();
        boolean byEpochs = settings.maxSteps() == 0;
        while ((!byEpochs || epoch < settings.epochs()) && trainer.step() < total) {
            List<Integer> order = order(rows.size(), epoch);
            while (next < rows.size() && trainer.step() < total) {
                List<Row> taken = new ArrayList<>();
                for (int i = next; i < Math.min(rows.size(), next + settings.batchSize()); i++) taken.add(rows.get(order.get(i)));
                List<ScoredSequence> batch = taken.stream().map(Row::sequence).toList();
                SftStep.Result result = SftStep.step(trainer, batch, settings.packed());
                next += batch.size();
                for (Row r : taken) audited(trained, Integer.toString(epoch), r, result.skipped());
                Metrics.SFT_EXAMPLES.labelValues("trained").inc(batch.size());
                progress.step(result, epoch);
                boolean end = byEpochs && next >= rows.size() && epoch + 1 >= settings.epochs() || trainer.step() >= total;
                if (end || System.currentTimeMillis() - lastCheckpoint >= settings.checkpointEverySeconds() * 1000) {
                    int e = next >= rows.size() ? epoch + 1 : epoch;
                    Map<String, String> positions = new HashMap<>(run);
                    positions.put(EPOCH, Integer.toString(e));
                    positions.put(NEXT, Integer.toString(next >= rows.size() ? 0 : next));
                    checkpoint(positions, trained, result.loss());
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
                for (Waiting w : batch) audited(trained, "topic", w.row(), result.skipped());
                Metrics.SFT_EXAMPLES.labelValues("trained").inc(batch.size());
                progress.step(result, 0);
                if (trainer.step() >= settings.maxSteps()
                        || System.currentTimeMillis() - lastCheckpoint >= settings.checkpointEverySeconds() * 1000) {
                    Map<String, String> positions = topicPositions(consumed, waiting);
                    positions.put(BASE, baseOfRun);
                    checkpoint(positions, trained, result.loss());
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

    /** An audit line: the epoch (or {@code topic}), the example's id, where it came from, and whether its step was dropped. */
    private static void audited(StringBuilder trained, String epoch, Row row, boolean dropped) {
        trained.append(epoch).append('\t').append(row.id()).append('\t').append(row.source())
                .append(dropped ? "\tdropped\n" : "\n");
    }

    /** The examples of a run, in their file's order: how many, and a hash of their ids. */
    private static String examplesFingerprint(List<Row> rows) {
        StringBuilder ids = new StringBuilder();
        for (Row r : rows) ids.append(r.id()).append('\n');
        return rows.size() + ":" + millrace.raters.RaterTokens.sha256(ids.toString()).substring(0, 16);
    }

    private static String describe(Map<String, String> run) {
        return run.get(EXAMPLES).split(":")[0] + " examples (" + run.get(EXAMPLES) + "), batch " + run.get(BATCH) + ", "
                + run.get(TOTAL) + " steps";
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
        Path dir = store.write(trainer, new CheckpointFormat.Meta(settings.modelName(), trainer.model().config(),
                tokenizer.id(), trainer.step(), trainer.tokensSeen(), loss, null, System.currentTimeMillis(), positions,
                trainer.seed()), tokenizerFiles);
        log.accept("checkpoint at step " + trainer.step() + " in " + dir);
    }

    /** Progress lines: step of total, epoch, loss, learning rate, tokens per second, time left. */
    private final class Progress {
        private final long total;
        private final long started = System.nanoTime();
        private final long firstStep = trainer.step();
        private long tokens;
        private long lastLine;

        Progress(long total) {
            this.total = total;
        }

        void step(SftStep.Result r, int epoch) {
            long now = System.nanoTime();
            Metrics.SFT_STEPS.inc();
            Metrics.SFT_LOSS.set(r.loss());
            tokens += r.tokens();
            if (now - lastLine < 2_000_000_000L && trainer.step() < total) return;
            lastLine = now;
            double seconds = (now - started) / 1e9;
            long done = trainer.step() - firstStep;
            double perStep = seconds / Math.max(1, done);
            long left = (long) ((total - trainer.step()) * perStep);
            log.accept(String.format("step %d/%d epoch %d loss %.4f (%d answer tokens) lr %.2e, %.0f tokens/s, ETA %d:%02d:%02d",
                    trainer.step(), total, epoch + 1, r.loss(), r.scoredTokens(),
                    r.learningRate(), tokens / seconds, left / 3600, left / 60 % 60, left % 60));
        }
    }

    @Override
    public void close() {
        trainer.close();
        root.close();
    }
}
