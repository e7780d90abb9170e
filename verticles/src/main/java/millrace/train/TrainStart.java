package millrace.train;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import millrace.model.CheckpointFormat;
import millrace.model.CheckpointReaders;
import millrace.model.LanguageModel;
import millrace.tokenizer.ByteLevelBpe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a trainer starts: its own newest checkpoint; for a DiLoCo replica new to its run, the run's newest checkpoint
 * (or, for a run's first replicas, the model's newest checkpoint of training alone); else fresh weights from the seed.
 *
 * @param trainer the model and optimizer, at their step
 * @param positions where training stands in each shards partition (empty when joining a run or starting fresh)
 * @param lastLoss the training loss the checkpoint recorded
 * @param replica a replica's place in its run (null: a trainer alone, or a replica whose run starts now)
 * @param outerState the file holding the replica's outer optimizer (null with {@code replica})
 * @param from the checkpoint it starts from (null: fresh weights)
 */
record TrainStart(ModelTrainer trainer, TrainPositions positions, float lastLoss, CheckpointFormat.ReplicaState replica,
        Path outerState, Path from) {
    private static final Logger LOG = LoggerFactory.getLogger(TrainStart.class);

    /**
     * @param own this trainer's checkpoints
     * @param run a DiLoCo run's checkpoints
     * @param model the model's checkpoints of training alone (for a trainer alone: {@code own})
     * @param instanceId this process's id among the model's trainers
     */
    static TrainStart of(TrainSettings settings, ByteLevelBpe tokenizer, NDManager root, CheckpointStore own,
            CheckpointStore run, CheckpointStore model, String instanceId) throws IOException {
        Optional<Path> latest = own.latest();
        if (latest.isEmpty() && settings.sync() != null) {
            latest = run.latest();
            if (latest.isEmpty()) latest = model.latest();
        }
        if (latest.isEmpty()) {
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed((int) settings.seed());
            LanguageModel gpt = LanguageModel.initialize(settings.model(), root);
            LOG.info("new {} model: {} parameters, {}", settings.modelName(), gpt.parameterCount(), settings.model());
            return new TrainStart(new ModelTrainer(settings, root, gpt, 0, 0), new TrainPositions(), Float.NaN, null, null, null);
        }
        Path from = latest.get();
        CheckpointFormat.Meta meta = CheckpointFormat.readMeta(from);
        // dropout is how it trains, not what it is
        if (!meta.config().withDropout(0f).equals(settings.model().withDropout(0f)) || !meta.tokenizerId().equals(tokenizer.id())) {
            // continuing would start another model in this directory, and pruning would delete its checkpoints
            throw new IllegalStateException("model '" + settings.modelName() + "' in " + own.dir()
                    + " was trained with " + meta.config() + " and tokenizer " + meta.tokenizerId()
                    + "; this run asks for " + settings.model() + " and tokenizer " + tokenizer.id()
                    + ". Give the new model its own --model-name (or another --data-dir)");
        }
        boolean replica = settings.sync() != null && meta.replica() != null;
        if (replica && !from.startsWith(own.dir())) {
            var state = meta.replica();
            LOG.info("joining run {} at round {} from {}", settings.modelName(), state.round(), from);
            // an instance id the run has seen before (its replica directory lost) counts on from its own steps: a
            // pseudo-gradient under a step the run summed already would be refused as a repeat
            long step = Math.max(state.roundStartStep(), state.closedSteps().getOrDefault(instanceId, -1L) + 1);
            var joined = new CheckpointFormat.ReplicaState(instanceId, state.round(), state.afterClose(), state.replayFrom(),
                    step, state.roundStartTokens(), null, state.runSteps(), state.runTokens(), state.closedSteps());
            // held against pruning by the replica that writes the run's checkpoints while it is read
            try (var reading = CheckpointReaders.open(from)) {
                ModelTrainer trainer = CheckpointStore.resume(from, settings, root, step, state.roundStartTokens());
                return new TrainStart(trainer, new TrainPositions(), meta.trainLoss(), joined,
                        from.resolve(CheckpointFormat.OUTER), from);
            }
        }
        // a run's first replicas from a checkpoint of training alone: its weights begin round 0
        LOG.info("resuming {} from {} (step {})", settings.modelName(), from, meta.step());
        ModelTrainer trainer = CheckpointStore.resume(from, settings, root);
        boolean ownCheckpoint = from.startsWith(own.dir());
        return new TrainStart(trainer, ownCheckpoint ? TrainPositions.of(meta.positions()) : new TrainPositions(),
                meta.trainLoss(), replica ? meta.replica() : null, replica ? from.resolve(CheckpointFormat.OUTER) : null, from);
    }
}
