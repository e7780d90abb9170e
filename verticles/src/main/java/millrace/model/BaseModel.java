package millrace.model;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;
import millrace.tokenizer.Vocabularies;

/**
 * A model to start from: a Millrace checkpoint directory, or a Hugging Face model directory as users download it
 * ({@code config.json}, safetensors weights, the tokenizer's files). Whatever takes a base — {@code up --base},
 * the feedback role, {@code sft}, {@code import} — reads it through here, so both kinds work everywhere. A directory
 * that is neither, or a Hugging Face one whose parts do not fit together, is refused with the file and the reason.
 */
public final class BaseModel {
    private final Path dir;
    private final boolean huggingFace;
    private final ModelConfig config;
    private final ByteLevelBpe tokenizer;

    private BaseModel(Path dir, boolean huggingFace, ModelConfig config, ByteLevelBpe tokenizer) {
        this.dir = dir;
        this.huggingFace = huggingFace;
        this.config = config;
        this.tokenizer = tokenizer;
    }

    /** The base in {@code dir}: its configuration and tokenizer read and checked against each other now. */
    public static BaseModel of(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve(CheckpointFormat.META))) {
            return new BaseModel(dir, false, CheckpointFormat.readMeta(dir).config(), CheckpointFormat.loadTokenizer(dir));
        }
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IOException(dir + ": neither a Millrace checkpoint (" + CheckpointFormat.META
                    + ") nor a Hugging Face model directory (config.json)");
        }
        ModelConfig config = HuggingFace.readConfig(dir);
        Path tokenizerFile = dir.resolve(CheckpointFormat.TOKENIZER);
        if (!Files.isRegularFile(tokenizerFile)) {
            throw new IOException(dir + ": no tokenizer.json (Millrace reads the model's own tokenizer, as Hugging Face's "
                    + "fast tokenizers write it)");
        }
        ByteLevelBpe tokenizer;
        try {
            tokenizer = Vocabularies.read(tokenizerFile);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
        if (tokenizer.vocabSize() > config.vocabSize()) {
            throw new IOException(tokenizerFile + ": the tokenizer has ids up to " + (tokenizer.vocabSize() - 1)
                    + " but config.json's vocab_size is " + config.vocabSize() + " (a tokenizer of another model?)");
        }
        BaseModel base = new BaseModel(dir, true, config, tokenizer);
        try {
            ChatTemplate.read(dir, tokenizer); // a template that does not render here would fail at the first rating
        } catch (IllegalArgumentException e) {
            throw new IOException(dir.resolve(CheckpointFormat.TOKENIZER_CONFIG) + ": chat_template: " + e.getMessage(), e);
        }
        return base;
    }

    public Path dir() {
        return dir;
    }

    /** Whether it is a Hugging Face directory (else a Millrace checkpoint). */
    public boolean huggingFace() {
        return huggingFace;
    }

    public ModelConfig config() {
        return config;
    }

    public ByteLevelBpe tokenizer() {
        return tokenizer;
    }

    /** Its weights, in fp32, in {@code manager}; a checkpoint is held against pruning while it is read. */
    public LanguageModel load(NDManager manager) throws IOException {
        return huggingFace ? HuggingFace.load(dir, manager) : CheckpointFormat.loadModel(dir, manager);
    }

    /** Its tokenizer's files, for the checkpoints made from it. */
    public CheckpointFormat.TokenizerFiles tokenizerFiles() throws IOException {
        return CheckpointFormat.TokenizerFiles.of(dir);
    }

    /** Whether it is a chat model: its {@code tokenizer_config.json} names a chat template. */
    public boolean chat() throws IOException {
        return Vocabularies.chatTemplate(dir.resolve(CheckpointFormat.TOKENIZER_CONFIG)).isPresent();
    }

    /**
     * The id of one of {@code tokenizer_config.json}'s special tokens ({@code bos_token}, {@code eos_token}), if it
     * names one the tokenizer has (a string, or an object with its {@code content}, as older files write it).
     */
    public static Optional<Integer> specialToken(Path dir, ByteLevelBpe tokenizer, String field) throws IOException {
        Path config = dir.resolve(CheckpointFormat.TOKENIZER_CONFIG);
        if (!Files.isRegularFile(config)) return Optional.empty();
        JsonNode token = JsonSerde.MAPPER.readTree(config.toFile()).path(field);
        String text = token.isTextual() ? token.asText() : token.path("content").asText(null);
        return text == null ? Optional.empty() : Optional.ofNullable(tokenizer.specials().get(text));
    }
}
