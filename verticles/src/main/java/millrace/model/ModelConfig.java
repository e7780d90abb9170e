package millrace.model;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import java.util.List;

/**
 * The whole shape of a model, one small record per architecture family: {@link Gpt2Config} (GPT-2) and
 * {@link LlamaConfig} (Llama, Qwen2, Qwen3, SmolLM2). What the rest of Millrace needs to know about any model is here;
 * the family's own record says the rest, and {@link #architecture()} computes it. In a checkpoint's
 * {@code checkpoint.json} the record carries its {@code family}; one written before families existed has none and is
 * GPT-2.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "family", defaultImpl = Gpt2Config.class)
@JsonSubTypes({@JsonSubTypes.Type(value = Gpt2Config.class, name = "gpt2"),
        @JsonSubTypes.Type(value = LlamaConfig.class, name = "llama")})
public sealed interface ModelConfig permits Gpt2Config, LlamaConfig {
    /** Transformer blocks. */
    int layers();

    /** Model width: the size of every token's state between blocks. */
    int width();

    /** Longest context the model is built for (positions a row or a cache may hold). */
    int contextLength();

    int vocabSize();

    /** Dropout rate while training (0 for none). */
    float dropout();

    /** The same model with a vocabulary of {@code vocabSize} (a tokenizer that gained the chat markers, say). */
    ModelConfig withVocabulary(int vocabSize);

    /** The same model with another dropout rate (fine-tuning and preference steps run without). */
    ModelConfig withDropout(float dropout);

    /** The network this configuration describes. */
    Architecture architecture();

    /** The presets {@link #preset} knows, GPT-2's first. */
    List<String> PRESETS = List.of("tiny", "small", "gpt2-124m", "llama-tiny", "llama-small", "smollm2-135m");

    /**
     * A preset by name for a tokenizer of {@code vocabSize} tokens and rows of {@code contextLength} (GPT-2's 124M and
     * SmolLM2's 135M keep their own contexts, 1,024 and 8,192).
     */
    static ModelConfig preset(String name, int vocabSize, int contextLength) {
        return switch (name) {
            case "tiny" -> Gpt2Config.tiny(vocabSize, contextLength);
            case "small" -> Gpt2Config.small(vocabSize, contextLength);
            case "gpt2-124m" -> Gpt2Config.gpt2(vocabSize);
            case "llama-tiny" -> LlamaConfig.tiny(vocabSize, contextLength);
            case "llama-small" -> LlamaConfig.small(vocabSize, contextLength);
            case "smollm2-135m" -> LlamaConfig.smolLm2(vocabSize);
            default -> throw new IllegalArgumentException("unknown model preset '" + name + "' (" + String.join(", ", PRESETS) + ")");
        };
    }
}
