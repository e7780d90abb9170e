package millrace.protocol;

/**
 * What the dedup/filter stage measured about a kept document.
 *
 * @param textHash hex SHA-256 of the normalized text: the key of exact de-duplication
 * @param chars characters of text
 * @param words whitespace-separated words
 * @param alphaFraction share of characters that are letters
 */
public record QualitySignals(String textHash, long chars, long words, double alphaFraction) {
    public QualitySignals {
        Check.text("quality.textHash", textHash);
        Check.nonNegative("quality.chars", chars);
        Check.nonNegative("quality.words", words);
        if (!(alphaFraction >= 0 && alphaFraction <= 1)) {
            throw new InvalidPayloadException("quality.alphaFraction", "must be within [0, 1], was " + alphaFraction);
        }
    }
}
