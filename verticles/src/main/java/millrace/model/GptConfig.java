package millrace.model;

/**
 * The whole shape of a GPT in one record.
 *
 * @param nLayer transformer blocks
 * @param nHead attention heads per block
 * @param nEmbd model width
 * @param blockSize longest context (positions)
 * @param vocabSize tokenizer vocabulary
 * @param dropout dropout rate during training (0 for none)
 */
public record GptConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, float dropout) {
    public GptConfig {
        if (nLayer < 1 || nHead < 1 || nEmbd < 1 || blockSize < 1 || vocabSize < 1) {
            throw new IllegalArgumentException("every size must be >= 1: " + this);
        }
        if (nEmbd % nHead != 0) throw new IllegalArgumentException("nEmbd " + nEmbd + " not divisible by nHead " + nHead);
        if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("dropout must be in [0, 1)");
    }

    /** For tests and the laptop demo: trains at a few steps per second on two cores. */
    public static GptConfig tiny(int vocabSize, int blockSize) {
        return new GptConfig(2, 2, 64, blockSize, vocabSize, 0f);
    }

    /** About 10M parameters with GPT-2's 50,257-token vocabulary (9.9M at context 64): a CPU demo that learns real structure. */
    public static GptConfig small(int vocabSize, int blockSize) {
        return new GptConfig(6, 5, 160, blockSize, vocabSize, 0f);
    }

    /** GPT-2 small, 124M parameters. */
    public static GptConfig gpt2(int vocabSize) {
        return new GptConfig(12, 12, 768, 1024, vocabSize, 0f);
    }

    public static GptConfig preset(String name, int vocabSize, int blockSize) {
        return switch (name) {
            case "tiny" -> tiny(vocabSize, blockSize);
            case "small" -> small(vocabSize, blockSize);
            case "gpt2-124m" -> gpt2(vocabSize);
            default -> throw new IllegalArgumentException("unknown model preset '" + name + "' (tiny, small, gpt2-124m)");
        };
    }

    public int headDim() {
        return nEmbd / nHead;
    }
}
