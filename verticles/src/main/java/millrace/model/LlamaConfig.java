package millrace.model;

/**
 * The Llama family's shape, as Hugging Face's {@code LlamaConfig}, {@code Qwen2Config} and {@code Qwen3Config} describe
 * it: RMSNorm, rotary positions, grouped-query attention, a SwiGLU MLP.
 *
 * @param variant which Hugging Face architecture this is (what export writes; the flags below say what the network
 *     does)
 * @param layers transformer blocks ({@code num_hidden_layers})
 * @param width model width ({@code hidden_size})
 * @param heads query heads ({@code num_attention_heads})
 * @param kvHeads key/value heads ({@code num_key_value_heads}): each serves {@code heads / kvHeads} query heads, and a
 *     key/value cache holds only these
 * @param headDim width of one head ({@code head_dim}; Qwen3's is not {@code width / heads})
 * @param intermediate the MLP's inner width ({@code intermediate_size})
 * @param vocabSize tokenizer vocabulary
 * @param contextLength longest context ({@code max_position_embeddings})
 * @param ropeTheta the rotary base ({@code rope_theta})
 * @param ropeScaling Llama 3's frequency scaling, or null
 * @param rmsEps RMSNorm's epsilon ({@code rms_norm_eps})
 * @param qkvBias whether the q, k and v projections have biases (Qwen2; Llama and Qwen3 with {@code attention_bias})
 * @param outputBias whether the attention's output projection has a bias (Llama and Qwen3 with {@code attention_bias})
 * @param mlpBias whether the MLP's projections have biases ({@code mlp_bias})
 * @param qkNorm whether queries and keys are RMS-normalised per head before the rotation (Qwen3)
 * @param tiedEmbeddings whether the output projection is the token embedding ({@code tie_word_embeddings})
 * @param dropout the attention's dropout while training ({@code attention_dropout})
 */
public record LlamaConfig(Variant variant, int layers, int width, int heads, int kvHeads, int headDim, int intermediate,
        int vocabSize, int contextLength, double ropeTheta, RopeScaling ropeScaling, double rmsEps, boolean qkvBias,
        boolean outputBias, boolean mlpBias, boolean qkNorm, boolean tiedEmbeddings, float dropout) implements ModelConfig {

    /** The Hugging Face architectures of the family, by the class transformers builds and the {@code model_type}. */
    public enum Variant {
        LLAMA("LlamaForCausalLM", "llama"), QWEN2("Qwen2ForCausalLM", "qwen2"), QWEN3("Qwen3ForCausalLM", "qwen3");

        private final String className;
        private final String modelType;

        Variant(String className, String modelType) {
            this.className = className;
            this.modelType = modelType;
        }

        public String className() {
            return className;
        }

        public String modelType() {
            return modelType;
        }
    }

    /**
     * Llama 3's {@code rope_scaling} of type {@code llama3}: frequencies whose wavelength is longer than
     * {@code originalContext / lowFreqFactor} are divided by {@code factor}, those shorter than
     * {@code originalContext / highFreqFactor} kept, and those between blended smoothly.
     */
    public record RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalContext) {
        public RopeScaling {
            if (!(factor > 0) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || originalContext < 1) {
                throw new IllegalArgumentException("rope_scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor "
                        + "and original_max_position_embeddings >= 1, was " + this);
            }
        }
    }

    public LlamaConfig {
        if (variant == null) throw new IllegalArgumentException("a Llama-family config names its variant");
        if (layers < 1 || width < 1 || heads < 1 || kvHeads < 1 || headDim < 1 || intermediate < 1 || vocabSize < 1
                || contextLength < 1) {
            throw new IllegalArgumentException("every size must be >= 1: " + this);
        }
        if (heads % kvHeads != 0) throw new IllegalArgumentException("heads " + heads + " not divisible by kvHeads " + kvHeads);
        if (headDim % 2 != 0) throw new IllegalArgumentException("rotary positions need an even head_dim, was " + headDim);
        if (!(ropeTheta > 0) || !(rmsEps > 0)) throw new IllegalArgumentException("rope_theta and rms_norm_eps must be > 0");
        if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("dropout must be in [0, 1)");
    }

    /** For tests and the laptop demo: two small blocks, two query heads per key/value head. */
    public static LlamaConfig tiny(int vocabSize, int contextLength) {
        return new LlamaConfig(Variant.LLAMA, 2, 64, 4, 2, 16, 176, vocabSize, contextLength, 10_000, null, 1e-5,
                false, false, false, false, true, 0f);
    }

    /** About 12M parameters with GPT-2's vocabulary (9.6M of them the tied embedding): the Llama counterpart of {@code small}. */
    public static LlamaConfig small(int vocabSize, int contextLength) {
        return new LlamaConfig(Variant.LLAMA, 6, 192, 6, 2, 32, 512, vocabSize, contextLength, 10_000, null, 1e-5,
                false, false, false, false, true, 0f);
    }

    /** SmolLM2-135M's shape: 30 blocks of width 576, 9 query and 3 key/value heads, rope_theta 1e5, tied embeddings. */
    public static LlamaConfig smolLm2(int vocabSize) {
        return new LlamaConfig(Variant.LLAMA, 30, 576, 9, 3, 64, 1536, vocabSize, 8192, 100_000, null, 1e-5,
                false, false, false, false, true, 0f);
    }

    @Override
    public LlamaConfig withVocabulary(int vocab) {
        return new LlamaConfig(variant, layers, width, heads, kvHeads, headDim, intermediate, vocab, contextLength,
                ropeTheta, ropeScaling, rmsEps, qkvBias, outputBias, mlpBias, qkNorm, tiedEmbeddings, dropout);
    }

    @Override
    public LlamaConfig withDropout(float rate) {
        return new LlamaConfig(variant, layers, width, heads, kvHeads, headDim, intermediate, vocabSize, contextLength,
                ropeTheta, ropeScaling, rmsEps, qkvBias, outputBias, mlpBias, qkNorm, tiedEmbeddings, rate);
    }

    @Override
    public Llama architecture() {
        return new Llama(this);
    }
}
