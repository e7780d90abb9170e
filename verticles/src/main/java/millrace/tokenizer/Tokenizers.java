package millrace.tokenizer;

/** Finds a tokenizer by its id. */
public final class Tokenizers {
    private Tokenizers() {}

    public static TextTokenizer byId(String id) {
        return switch (id) {
            case "r50k_base", "r50k", "gpt2" -> TiktokenTokenizer.r50k();
            default -> throw new IllegalArgumentException("unknown tokenizer '" + id + "' (known: r50k_base)");
        };
    }
}
