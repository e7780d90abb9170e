package millrace.model;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;
import millrace.tokenizer.Vocabularies;

/**
 * A Hugging Face GPT-2 directory ({@code GPT2LMHeadModel}): {@code config.json}, {@code model.safetensors} and the
 * tokenizer. Millrace's parameters already carry GPT-2's names and layouts (Conv1D weights are {@code [in, out]}, the
 * output head is the token embedding), so export is a rename to {@code transformer.*} and import the reverse; the
 * activation is GPT-2's tanh GELU ({@code gelu_new}), LayerNorm epsilon 1e-5, so logits agree.
 */
public final class HuggingFaceGpt2 {
    static final String PREFIX = "transformer.";

    private HuggingFaceGpt2() {}

    /** {@code chat}: a chat model's export carries its chat template, and its answers end at {@code <|im_end|>}. */
    public static void export(Gpt gpt, ByteLevelBpe tokenizer, boolean chat, Path out) throws IOException {
        Files.createDirectories(out);
        GptConfig c = gpt.config();
        ObjectNode config = JsonSerde.MAPPER.createObjectNode();
        config.putArray("architectures").add("GPT2LMHeadModel");
        config.put("model_type", "gpt2").put("vocab_size", c.vocabSize()).put("n_positions", c.blockSize())
                .put("n_ctx", c.blockSize()).put("n_embd", c.nEmbd()).put("n_layer", c.nLayer()).put("n_head", c.nHead())
                .putNull("n_inner");
        config.put("activation_function", "gelu_new").put("resid_pdrop", c.dropout()).put("embd_pdrop", c.dropout())
                .put("attn_pdrop", c.dropout()).put("layer_norm_epsilon", 1e-5).put("initializer_range", 0.02)
                .put("scale_attn_weights", true).put("tie_word_embeddings", true).put("use_cache", true)
                .put("bos_token_id", tokenizer.endOfText())
                // a chat model's answers end at <|im_end|>: transformers' generate stops there
                .put("eos_token_id", chat ? tokenizer.specials().get(ChatTemplate.END) : tokenizer.endOfText())
                .put("torch_dtype", "float32");
        JsonSerde.MAPPER.writerWithDefaultPrettyPrinter().writeValue(out.resolve("config.json").toFile(), config);
        Vocabularies.writeHuggingFaceConfig(tokenizer, c.blockSize(), chat, out.resolve("tokenizer_config.json"));
        Vocabularies.writeHuggingFace(tokenizer, out.resolve("tokenizer.json"));
        NDList list = new NDList();
        gpt.parameters().forEach((name, p) -> {
            ai.djl.ndarray.NDArray copy = p.duplicate();
            copy.setName(PREFIX + name);
            list.add(copy);
        });
        try (OutputStream o = Files.newOutputStream(out.resolve("model.safetensors"))) {
            list.encode(o, NDList.Encoding.SAFETENSORS);
        } finally {
            list.close();
        }
    }

    /** The architecture a Hugging Face GPT-2 {@code config.json} describes. */
    public static GptConfig readConfig(Path dir) throws IOException {
        JsonNode c = JsonSerde.MAPPER.readTree(dir.resolve("config.json").toFile());
        if (!"gpt2".equals(c.path("model_type").asText())) {
            throw new IOException(dir + "/config.json: model_type " + c.path("model_type") + ", expected gpt2");
        }
        String act = c.path("activation_function").asText("gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw new IOException(dir + "/config.json: activation " + act + " (Millrace's GPT uses the tanh GELU)");
        }
        if (!c.path("n_inner").isNull() && !c.path("n_inner").isMissingNode() && c.path("n_inner").asInt() != 4 * c.path("n_embd").asInt()) {
            throw new IOException(dir + "/config.json: n_inner must be 4 × n_embd");
        }
        return new GptConfig(c.path("n_layer").asInt(), c.path("n_head").asInt(), c.path("n_embd").asInt(),
                c.path("n_positions").asInt(), c.path("vocab_size").asInt(), (float) c.path("resid_pdrop").asDouble(0));
    }

    /**
     * Loads a Hugging Face GPT-2 directory's weights ({@code transformer.}-prefixed or not); the output head
     * ({@code lm_head.weight}, tied) and the attention-mask buffers are not parameters.
     */
    public static Gpt load(Path dir, NDManager manager) throws IOException {
        return Gpt.load(readConfig(dir), manager, dir.resolve("model.safetensors"), name -> {
            String n = name.startsWith(PREFIX) ? name.substring(PREFIX.length()) : name;
            if (n.equals("lm_head.weight") || n.endsWith(".attn.bias") || n.endsWith(".attn.masked_bias")) return null;
            return n;
        });
    }
}
