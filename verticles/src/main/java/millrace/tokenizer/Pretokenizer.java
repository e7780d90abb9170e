package millrace.tokenizer;

import java.util.regex.Pattern;

/**
 * The regular expressions that split text into pieces before BPE, as OpenAI's tiktoken defines them (Meta's Llama 3
 * uses cl100k's as it is, Qwen a variant).
 */
public final class Pretokenizer {
    /** GPT-2 (r50k, p50k). */
    public static final String GPT2 =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    /** GPT-3.5/4 (cl100k); Llama 3's too. */
    public static final String CL100K = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2, Qwen2.5 and Qwen3: cl100k's, but one digit a piece. */
    public static final String QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** GPT-4o (o200k). */
    public static final String O200K = String.join("|",
            "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            "\\p{N}{1,3}",
            " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*",
            "\\s*[\\r\\n]+",
            "\\s+(?!\\S)",
            "\\s+");

    private Pretokenizer() {}

    /**
     * Compiles a tiktoken/Hugging Face pattern for Java: {@code \s} and case folding must be Unicode-aware, as in the
     * Rust and Python regex engines those patterns were written for.
     */
    public static Pattern compile(String regex) {
        // case-insensitive matching is slow in java.util.regex; the contractions need it only for these letters
        // (and U+017F LONG S, which folds to s), so spell the classes out
        String fast = regex.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'[sS\u017F]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])");
        return Pattern.compile(fast, Pattern.UNICODE_CHARACTER_CLASS | Pattern.UNICODE_CASE);
    }
}
