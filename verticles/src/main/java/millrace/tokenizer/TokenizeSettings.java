package millrace.tokenizer;

/**
 * How the tokenize role packs shards.
 *
 * @param tokenizer a published vocabulary's name or a tokenizer file ({@link Tokenizers#load})
 * @param seqLen model context length; rows are {@code seqLen + 1} tokens
 * @param rowsPerShard rows in a full shard
 * @param validationShare share of documents (by id) that go to the validation split
 * @param flushAfterMillis when input pauses this long, complete rows are shipped in a smaller shard
 */
public record TokenizeSettings(String tokenizer, int seqLen, int rowsPerShard, double validationShare,
        long flushAfterMillis) {

    public static TokenizeSettings defaults() {
        return new TokenizeSettings("r50k_base", 64, 16, 0.01, 2000);
    }

    public TokenizeSettings {
        if (seqLen < 1 || rowsPerShard < 1) throw new IllegalArgumentException("seqLen and rowsPerShard must be >= 1");
        if (validationShare < 0 || validationShare >= 1) throw new IllegalArgumentException("validationShare in [0, 1)");
    }
}
