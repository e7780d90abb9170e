package millrace.protocol;

/**
 * What the dedup/filter stage measured about a kept document.
 *
 * @param textHash hex SHA-256 of the normalized text: the key of exact de-duplication
 * @param chars characters of text
 * @param words whitespace-separated words
 * @param alphaFraction share of characters that are letters
 * @param languageConfidence Lingua's confidence in the document's language (0 when not identified)
 * @param piiRedactions e-mail and IP addresses replaced in the text
 */
public record QualitySignals(String textHash, long chars, long words, double alphaFraction,
        double languageConfidence, int piiRedactions) {
    public QualitySignals {
        Check.text("quality.textHash", textHash);
        Check.nonNegative("quality.chars", chars);
        Check.nonNegative("quality.words", words);
        if (!(alphaFraction >= 0 && alphaFraction <= 1)) {
            throw new InvalidPayloadException("quality.alphaFraction", "must be within [0, 1], was " + alphaFraction);
        }
        Check.nonNegative("quality.piiRedactions", piiRedactions);
    }
}
