package millrace.model;

/**
 * GPT-2's shape (nanoGPT's {@code GPTConfig}): learned positions, LayerNorm, multi-head attention, a GELU MLP four
 * times the width, the output projection tied to the token embedding.
 *
 * @param nLayer transformer blocks
 * @param nHead attention heads per block
 * @param nEmbd model width
 * @param blockSize longest context (learned positions)
 * @param vocabSize tokenizer vocabulary
 * @param dropout dropout rate during training (0 for none)
 */
public record Gpt2Config(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, float dropout) implements ModelConfig {
    public Gpt2Config {
        if (nLayer < 1 || nHead < 1 || nEmbd < 1 || blockSize < 1 || vocabSize < 1) {
            throw new IllegalArgumentException("every size must be >= 1: " + this);
        }
        if (nEmbd % nHead != 0) throw new IllegalArgumentException("nEmbd " + nEmbd + " not divisible by nHead " + nHead);
        if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("dropout must be in [0, 1)");
    }

    /** For tests and the laptop demo: trains at a few steps per second on two cores. */
    public static Gpt2Config tiny(int vocabSize, int blockSize) {
        return new Gpt2Config(2, 2, 64, blockSize, vocabSize, 0f);
    }

    /** About 10M parameters with GPT-2's 50,257-token vocabulary (9.9M at context 64): a CPU demo that learns real structure. */
    public static Gpt2Config small(int vocabSize, int blockSize) {
        return new Gpt2Config(6, 5, 160, blockSize, vocabSize, 0f);
    }

    /** GPT-2 small, 124M parameters. */
    public static Gpt2Config gpt2(int vocabSize) {
        return new Gpt2Config(12, 12, 768, 1024, vocabSize, 0f);
    }

    public int headDim() {
        return nEmbd / nHead;
    }

    @Override
    public int layers() {
        return nLayer;
    }

    @Override
    public int width() {
        return nEmbd;
    }

    @Override
    public int contextLength() {
        return blockSize;
    }

    @Override
    public Gpt2Config withVocabulary(int vocab) {
        return new Gpt2Config(nLayer, nHead, nEmbd, blockSize, vocab, dropout);
    }

    @Override
    public Gpt2Config withDropout(float rate) {
        return new Gpt2Config(nLayer, nHead, nEmbd, blockSize, vocabSize, rate);
    }

    @Override
    public Gpt2 architecture() {
        return new Gpt2(this);
    }
}
