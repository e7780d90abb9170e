package millrace.tokenizer;

/** A byte-level BPE vocabulary: text to token ids and back. */
public interface TextTokenizer {
    /** A stable id; shards carry it and a trainer refuses shards of another tokenizer. */
    String id();

    /** Ids of {@code text} as one document, special tokens not recognised. */
    int[] encode(String text);

    String decode(int[] ids);

    /** The id that ends a document ({@code <|endoftext|>}, Llama 3's {@code <|end_of_text|>}), appended after every one. */
    int endOfText();

    int vocabSize();
}
