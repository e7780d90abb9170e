package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import millrace.protocol.JsonSerde;

/**
 * Hugging Face model directories in and out: {@code config.json}, the weights ({@code model.safetensors}, or shards
 * and their {@code model.safetensors.index.json}; fp32, fp16 or bf16), and the tokenizer's files. The architectures
 * read and written: {@code GPT2LMHeadModel}, {@code LlamaForCausalLM} (SmolLM2, Llama 3.x), {@code Qwen2ForCausalLM}
 * (Qwen2.5) and {@code Qwen3ForCausalLM}. Millrace's parameters carry Hugging Face's names (GPT-2's without the
 * {@code transformer.} prefix), so a model goes in and out as it is, and transformers' {@code from_pretrained} loads an
 * export with the same logits.
 */
public final class HuggingFace {
    /** What {@link #readConfig} reads, by {@code model_type}. */
    public static final List<String> SUPPORTED = List.of("gpt2 (GPT2LMHeadModel)", "llama (LlamaForCausalLM)",
            "qwen2 (Qwen2ForCausalLM)", "qwen3 (Qwen3ForCausalLM)");
    /** The files of a model's tokenizer and generation settings, copied as they are. */
    public static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "chat_template.jinja", "special_tokens_map.json", "generation_config.json");
    private static final String GPT2_PREFIX = "transformer.";

    private HuggingFace() {}

    /** The architecture a directory's {@code config.json} describes; a clear error naming the field otherwise. */
    public static ModelConfig readConfig(Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) throw new IOException(dir + ": no config.json (not a Hugging Face model directory)");
        JsonNode c = JsonSerde.MAPPER.readTree(file.toFile());
        String type = c.path("model_type").asText("");
        return switch (type) {
            case "gpt2" -> gpt2(file, c);
            case "llama" -> llama(file, c, LlamaConfig.Variant.LLAMA);
            case "qwen2" -> llama(file, c, LlamaConfig.Variant.QWEN2);
            case "qwen3" -> llama(file, c, LlamaConfig.Variant.QWEN3);
            default -> throw new IOException(file + ": model_type '" + type + "' is not supported (supported: "
                    + String.join(", ", SUPPORTED) + ")");
        };
    }

    private static Gpt2Config gpt2(Path file, JsonNode c) throws IOException {
        String act = c.path("activation_function").asText("gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw new IOException(file + ": activation_function " + act + " (Millrace's GPT-2 uses the tanh GELU)");
        }
        if (!c.path("n_inner").isNull() && !c.path("n_inner").isMissingNode() && c.path("n_inner").asInt() != 4 * c.path("n_embd").asInt()) {
            throw new IOException(file + ": n_inner must be 4 × n_embd");
        }
        return new Gpt2Config(required(file, c, "n_layer"), required(file, c, "n_head"), required(file, c, "n_embd"),
                required(file, c, "n_positions"), required(file, c, "vocab_size"), (float) c.path("resid_pdrop").asDouble(0));
    }

    private static LlamaConfig llama(Path file, JsonNode c, LlamaConfig.Variant variant) throws IOException {
        String act = c.path("hidden_act").asText("silu");
        if (!act.equals("silu")) throw new IOException(file + ": hidden_act " + act + " (the Llama family's MLP is SwiGLU: silu)");
        if (c.path("use_sliding_window").asBoolean(false)) {
            throw new IOException(file + ": use_sliding_window is true (Millrace attends over the whole context)");
        }
        for (JsonNode t : c.path("layer_types")) {
            if (!t.asText().equals("full_attention")) throw new IOException(file + ": layer_types has " + t + " (only full_attention)");
        }
        int width = required(file, c, "hidden_size");
        int heads = required(file, c, "num_attention_heads");
        int kvHeads = c.hasNonNull("num_key_value_heads") ? c.get("num_key_value_heads").asInt() : heads;
        int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : width / heads;
        // transformers 5 writes rope_parameters; the models on the Hub have rope_theta and rope_scaling
        JsonNode rope = c.hasNonNull("rope_parameters") ? c.get("rope_parameters") : c.path("rope_scaling");
        double theta = c.hasNonNull("rope_parameters") ? rope.path("rope_theta").asDouble(10_000)
                : c.path("rope_theta").asDouble(10_000);
        String ropeType = rope.isObject() ? rope.path("rope_type").asText(rope.path("type").asText("default")) : "default";
        LlamaConfig.RopeScaling scaling = switch (ropeType) {
            case "default" -> null;
            case "llama3" -> new LlamaConfig.RopeScaling(rope.path("factor").asDouble(), rope.path("low_freq_factor").asDouble(),
                    rope.path("high_freq_factor").asDouble(), rope.path("original_max_position_embeddings").asInt());
            default -> throw new IOException(file + ": rope type '" + ropeType + "' is not supported (default, llama3)");
        };
        boolean attentionBias = c.path("attention_bias").asBoolean(false);
        // Qwen2's q, k and v always have biases and its o_proj none; Llama's and Qwen3's attention_bias covers all four
        boolean qkvBias = variant == LlamaConfig.Variant.QWEN2 || attentionBias;
        boolean outputBias = variant != LlamaConfig.Variant.QWEN2 && attentionBias;
        boolean tied = c.path("tie_word_embeddings").asBoolean(false);
        try {
            return new LlamaConfig(variant, required(file, c, "num_hidden_layers"), width, heads, kvHeads, headDim,
                    required(file, c, "intermediate_size"), required(file, c, "vocab_size"),
                    required(file, c, "max_position_embeddings"), theta, scaling, c.path("rms_norm_eps").asDouble(1e-6),
                    qkvBias, outputBias, c.path("mlp_bias").asBoolean(false), variant == LlamaConfig.Variant.QWEN3, tied,
                    (float) c.path("attention_dropout").asDouble(0));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage());
        }
    }

    /**
     * Refuses a Llama-family config the variant's Hugging Face class cannot hold: Llama's and Qwen3's
     * {@code attention_bias} puts biases on q, k, v and o together, Qwen2 has them on q, k and v only, only Llama has
     * {@code mlp_bias}, only Qwen3 its q/k norms.
     */
    static void expressible(LlamaConfig c) {
        String why = switch (c.variant()) {
            case LLAMA -> c.qkNorm() ? "q/k norms" : c.qkvBias() != c.outputBias() ? "biases on q, k and v but not o (or o alone)" : null;
            case QWEN2 -> c.qkNorm() ? "q/k norms" : !c.qkvBias() || c.outputBias() ? "q/k/v biases other than on q, k and v alone"
                    : c.mlpBias() ? "MLP biases" : null;
            case QWEN3 -> !c.qkNorm() ? "no q/k norms" : c.qkvBias() != c.outputBias() ? "biases on q, k and v but not o (or o alone)"
                    : c.mlpBias() ? "MLP biases" : null;
        };
        if (why != null) throw new IllegalArgumentException(c.variant().className() + " cannot hold " + why + ": " + c);
    }

    private static int required(Path file, JsonNode c, String field) throws IOException {
        if (!c.path(field).canConvertToInt()) throw new IOException(file + ": no integer " + field);
        return c.get(field).asInt();
    }

    /**
     * The model of a Hugging Face directory, weights converted to fp32. Tensors that are not parameters are left out:
     * a tied head's copy ({@code lm_head.weight}), GPT-2's attention-mask buffers, a persisted {@code inv_freq}.
     */
    public static LanguageModel load(Path dir, NDManager manager) throws IOException {
        ModelConfig config = readConfig(dir);
        Map<String, Safetensors.Tensor> tensors = Safetensors.readDirectory(dir);
        boolean tiedHead = config instanceof Gpt2Config || config instanceof LlamaConfig l && l.tiedEmbeddings();
        return LanguageModel.load(config, manager, tensors, name -> {
            String n = config instanceof Gpt2Config && name.startsWith(GPT2_PREFIX) ? name.substring(GPT2_PREFIX.length()) : name;
            if (n.equals("lm_head.weight") && tiedHead) return null;
            if (n.endsWith(".attn.bias") && config instanceof Gpt2Config || n.endsWith(".attn.masked_bias")) return null;
            if (n.endsWith("rotary_emb.inv_freq")) return null;
            return n;
        }, dir.toString());
    }

    /**
     * Writes {@code model} as a Hugging Face directory {@code out} of its architecture: {@code config.json}, fp32
     * {@code model.safetensors}, and the tokenizer's files. {@code eos} and
     * {@code bos}: the ids {@code config.json} names (a chat model's end of turn as its eos, so that transformers'
     * {@code generate} stops where Millrace does); null leaves them out.
     */
    public static void export(LanguageModel model, CheckpointFormat.TokenizerFiles tokenizer, Integer bos, Integer eos,
            Path out) throws IOException {
        Files.createDirectories(out);
        ObjectNode config = configJson(model.config());
        if (bos != null) config.put("bos_token_id", bos);
        if (eos != null) config.put("eos_token_id", eos);
        JsonSerde.MAPPER.writerWithDefaultPrettyPrinter().writeValue(out.resolve("config.json").toFile(), config);
        tokenizer.writeTo(out, model.config().contextLength());
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        String prefix = model.config() instanceof Gpt2Config ? GPT2_PREFIX : "";
        model.parameters().forEach((name, p) -> tensors.put(prefix + name, p));
        try (OutputStream o = Files.newOutputStream(out.resolve("model.safetensors"))) {
            Safetensors.write(o, tensors);
        }
    }

    /**
     * {@code config.json} alone, for {@code config} (a peer that builds the same architecture with transformers'
     * random initialisation).
     */
    public static void writeConfig(ModelConfig config, Path dir) throws IOException {
        Files.createDirectories(dir);
        JsonSerde.MAPPER.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), configJson(config));
    }

    private static ObjectNode configJson(ModelConfig c) {
        ObjectNode config = c instanceof LlamaConfig l ? llamaConfig(l) : gpt2Config((Gpt2Config) c);
        config.put("torch_dtype", "float32");
        return config;
    }

    private static ObjectNode gpt2Config(Gpt2Config c) {
        ObjectNode config = JsonSerde.MAPPER.createObjectNode();
        config.putArray("architectures").add("GPT2LMHeadModel");
        config.put("model_type", "gpt2").put("vocab_size", c.vocabSize()).put("n_positions", c.blockSize())
                .put("n_ctx", c.blockSize()).put("n_embd", c.nEmbd()).put("n_layer", c.nLayer()).put("n_head", c.nHead())
                .putNull("n_inner");
        config.put("activation_function", "gelu_new").put("resid_pdrop", c.dropout()).put("embd_pdrop", c.dropout())
                .put("attn_pdrop", c.dropout()).put("layer_norm_epsilon", 1e-5).put("initializer_range", 0.02)
                .put("scale_attn_weights", true).put("tie_word_embeddings", true).put("use_cache", true);
        return config;
    }

    /** The keys the models on the Hub carry (transformers 5 reads them and converts its own). */
    private static ObjectNode llamaConfig(LlamaConfig c) {
        expressible(c);
        ObjectNode config = JsonSerde.MAPPER.createObjectNode();
        config.putArray("architectures").add(c.variant().className());
        config.put("model_type", c.variant().modelType()).put("vocab_size", c.vocabSize()).put("hidden_size", c.width())
                .put("intermediate_size", c.intermediate()).put("num_hidden_layers", c.layers())
                .put("num_attention_heads", c.heads()).put("num_key_value_heads", c.kvHeads()).put("head_dim", c.headDim())
                .put("max_position_embeddings", c.contextLength()).put("rms_norm_eps", c.rmsEps())
                .put("rope_theta", c.ropeTheta()).put("hidden_act", "silu").put("tie_word_embeddings", c.tiedEmbeddings())
                .put("attention_dropout", c.dropout()).put("initializer_range", 0.02).put("use_cache", true);
        if (c.variant() != LlamaConfig.Variant.QWEN2) {
            config.put("attention_bias", c.outputBias());
        } else {
            config.put("use_sliding_window", false);
        }
        if (c.variant() == LlamaConfig.Variant.LLAMA) config.put("mlp_bias", c.mlpBias());
        LlamaConfig.RopeScaling s = c.ropeScaling();
        if (s == null) {
            config.putNull("rope_scaling");
        } else {
            config.putObject("rope_scaling").put("rope_type", "llama3").put("factor", s.factor())
                    .put("low_freq_factor", s.lowFreqFactor()).put("high_freq_factor", s.highFreqFactor())
                    .put("original_max_position_embeddings", s.originalContext());
        }
        return config;
    }
}
