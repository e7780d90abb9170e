package millrace.model;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Vocabularies;

/**
 * What a checkpoint directory holds and how it is read: {@code model.safetensors} (the weights),
 * {@code optimizer.safetensors} (AdamW's moments, for a trainer that continues), {@code checkpoint.json} ({@link Meta}),
 * the model's {@code tokenizer.json} and Hugging Face's {@code tokenizer_config.json}. Everything that only reads
 * checkpoints (serving, evaluation, export) needs this and not the trainer; writing them is
 * {@code train.CheckpointStore}'s.
 */
public final class CheckpointFormat {
    private static final ObjectMapper JSON = JsonSerde.MAPPER;

    private CheckpointFormat() {}

    /**
     * The facts beside the weights. {@code positions}: per {@code millrace.shards} partition, {@code "offset:rows"} —
     * every training row before the shard at {@code offset}, and its first {@code rows} rows, went into these weights.
     * {@code seed}: the run's random seed; with the step it determines every later dropout mask (null in checkpoints
     * written before it was recorded). {@code replica}: where a DiLoCo replica stands in its run (null for a trainer
     * that trains alone); its checkpoints hold the outer optimizer's state beside, in {@link #OUTER}.
     */
    public record Meta(String model, ModelConfig config, String tokenizerId, long step, long tokensSeen, float trainLoss,
            Float validationLoss, long createdAtMillis, Map<String, String> positions, Long seed, ReplicaState replica) {
        public Meta {
            positions = positions == null ? Map.of() : Map.copyOf(positions);
        }

        /** The checkpoint of a trainer that trains alone. */
        public Meta(String model, ModelConfig config, String tokenizerId, long step, long tokensSeen, float trainLoss,
                Float validationLoss, long createdAtMillis, Map<String, String> positions, Long seed) {
            this(model, config, tokenizerId, step, tokensSeen, trainLoss, validationLoss, createdAtMillis, positions, seed, null);
        }
    }

    /**
     * A DiLoCo replica's place in its run (see {@code train.ReplicaSync}).
     *
     * @param replica the replica's id (its instance id)
     * @param round the open round
     * @param afterClose offset of {@code millrace.sync} after the close of the round before
     * @param replayFrom where a restored replica reads {@code millrace.sync} from (at or before {@code afterClose})
     * @param roundStartStep the replica's step when its weights were last the run's (its pseudo-gradient spans the
     *     steps since)
     * @param roundStartTokens the replica's tokens seen at that step
     * @param publishedStep the step of its pseudo-gradient published and not yet met by a close (null: none)
     * @param runSteps optimizer steps of every replica summed into the run's weights
     * @param runTokens tokens of those steps
     * @param closedSteps per replica, the newest step of a pseudo-gradient a closed round summed (a repeat is refused)
     */
    public record ReplicaState(String replica, long round, long afterClose, long replayFrom, long roundStartStep,
            long roundStartTokens, Long publishedStep, long runSteps, long runTokens, Map<String, Long> closedSteps) {
        public ReplicaState {
            closedSteps = closedSteps == null ? Map.of() : Map.copyOf(closedSteps);
        }
    }

    /** A DiLoCo replica's outer optimizer: the weights its round began at, and the Nesterov momentum. */
    public static final String OUTER = "outer.bin";

    public static final String WEIGHTS = "model.safetensors";
    public static final String META = "checkpoint.json";
    public static final String TOKENIZER = "tokenizer.json";
    public static final String OPTIMIZER = "optimizer.safetensors";
    /** Hugging Face's tokenizer settings, with the chat template of a chat model. */
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    /** Empty: what readers lock so that pruning leaves the checkpoint alone ({@link CheckpointReaders}). */
    public static final String READ_LOCK = ".read.lock";
    /**
     * Whether a checkpoint is a chat model — fine-tuned on conversations, so prompts go through its chat template: its
     * {@code tokenizer_config.json} names one, as Hugging Face marks chat models. A pretrained model whose vocabulary
     * has the markers (every trained one does) is not.
     */
    public static boolean isChatModel(Path checkpoint) throws IOException {
        return Vocabularies.chatTemplate(checkpoint.resolve(TOKENIZER_CONFIG)).isPresent();
    }


    /**
     * Where a checkpoint's tokenizer files come from: a directory that has them as Hugging Face wrote them (an
     * imported model's, the checkpoint a trainer continues), copied as they are — {@code tokenizer.json},
     * {@code tokenizer_config.json} with the chat template, {@code generation_config.json} with the end-of-sequence ids
     * — or, for a vocabulary Millrace made or a built-in one, written from it.
     */
    public interface TokenizerFiles {
        void writeTo(Path dir, int contextLength) throws IOException;

        /**
         * The files of {@code source} (a checkpoint or a Hugging Face directory), read now and written as they are:
         * the checkpoint they came from may be pruned before the next one is written.
         */
        static TokenizerFiles of(Path source) throws IOException {
            if (!Files.isRegularFile(source.resolve(TOKENIZER))) throw new IOException(source + ": no " + TOKENIZER);
            Map<String, byte[]> files = new java.util.LinkedHashMap<>();
            for (String name : HuggingFace.TOKENIZER_FILES) {
                if (Files.isRegularFile(source.resolve(name))) files.put(name, Files.readAllBytes(source.resolve(name)));
            }
            return (dir, contextLength) -> {
                for (Map.Entry<String, byte[]> f : files.entrySet()) Files.write(dir.resolve(f.getKey()), f.getValue());
            };
        }

        /** {@code tokenizer} written as {@code tokenizer.json} and Hugging Face's config; {@code chat}: with ChatML's template. */
        static TokenizerFiles written(ByteLevelBpe tokenizer, boolean chat) {
            return (dir, contextLength) -> {
                Vocabularies.writeHuggingFace(tokenizer, dir.resolve(TOKENIZER));
                Vocabularies.writeHuggingFaceConfig(tokenizer, contextLength, chat, dir.resolve(TOKENIZER_CONFIG));
            };
        }
    }

    /** {@code dir} itself, if it is a checkpoint directory; a clear error otherwise. */
    public static Path requireCheckpoint(Path dir) {
        if (!Files.isRegularFile(dir.resolve(META))) throw new IllegalArgumentException("not a checkpoint directory: " + dir);
        return dir;
    }


    public static Meta readMeta(Path checkpoint) throws IOException {
        return JSON.readValue(checkpoint.resolve(META).toFile(), Meta.class);
    }


    /** The tokenizer a checkpoint's model was trained with. */
    public static ByteLevelBpe loadTokenizer(Path checkpoint) throws IOException {
        return Vocabularies.read(checkpoint.resolve(TOKENIZER));
    }


    /** Loads the model of a checkpoint directory into {@code manager}; pruning leaves it alone meanwhile. */
    public static LanguageModel loadModel(Path checkpoint, NDManager manager) throws IOException {
        try (CheckpointReaders.Reading ignored = CheckpointReaders.open(checkpoint)) {
            return LanguageModel.load(readMeta(checkpoint).config(), manager, checkpoint.resolve(WEIGHTS));
        }
    }
}
