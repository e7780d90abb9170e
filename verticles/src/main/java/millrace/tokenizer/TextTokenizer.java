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

    /** The token the model's tokenizer puts before a text (Llama 3.1's {@code <|begin_of_text|>}), if any. */
    java.util.OptionalInt beginOfText();

    /**
     * A document as the model is trained on it and reads it: its begin-of-text token where the tokenizer has one (as
     * Hugging Face's post-processor prepends it), the text, the end of text.
     */
    default int[] document(String text) {
        int[] ids = encode(text);
        java.util.OptionalInt bos = beginOfText();
        int from = bos.isPresent() ? 1 : 0;
        int[] out = new int[from + ids.length + 1];
        if (bos.isPresent()) out[0] = bos.getAsInt();
        System.arraycopy(ids, 0, out, from, ids.length);
        out[out.length - 1] = endOfText();
        return out;
    }

    int vocabSize();
}
