package millrace.dedup;

import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import millrace.ingest.DocumentIds;
import millrace.protocol.Document;
import millrace.protocol.QualitySignals;

/**
 * Exact de-duplication on normalized text: the first document seen with a text is kept, later ones are duplicates of
 * it. Normalization makes Unicode form, case and whitespace runs irrelevant. About 100 bytes per kept document.
 */
public final class ExactDeduplicator {

    /** The verdict on one document. */
    public sealed interface Verdict permits Kept, Duplicate, AlreadyKept {}

    /** New text: keep it (with its measured signals). */
    public record Kept(Document clean) implements Verdict {}

    /** Same text as an earlier, different document. */
    public record Duplicate(KeptDoc original) implements Verdict {}

    /** This very document (same id) was kept before: a re-ingest or a replay, which adds nothing. */
    public record AlreadyKept() implements Verdict {}

    /** What the index remembers of a kept document. */
    public record KeptDoc(String id, String source) {}

    private final Map<String, KeptDoc> byHash = new HashMap<>();

    public Verdict judge(Document doc) {
        QualitySignals signals = measure(doc.text());
        KeptDoc seen = byHash.get(signals.textHash());
        if (seen == null) {
            byHash.put(signals.textHash(), new KeptDoc(doc.id(), doc.source()));
            return new Kept(doc.withQuality(signals));
        }
        return seen.id().equals(doc.id()) ? new AlreadyKept() : new Duplicate(seen);
    }

    /** Rebuilds the index from a document already on {@code millrace.docs.clean}. */
    public void remember(Document clean) {
        String hash = clean.quality() != null ? clean.quality().textHash() : measure(clean.text()).textHash();
        byHash.putIfAbsent(hash, new KeptDoc(clean.id(), clean.source()));
    }

    public int size() {
        return byHash.size();
    }

    public static String normalize(String text) {
        String nfc = Normalizer.normalize(text, Normalizer.Form.NFKC).toLowerCase(java.util.Locale.ROOT);
        return nfc.strip().replaceAll("\\s+", " ");
    }

    public static QualitySignals measure(String text) {
        String normalized = normalize(text);
        String hash = HexFormat.of().formatHex(DocumentIds.sha256().digest(normalized.getBytes(StandardCharsets.UTF_8)));
        long letters = text.codePoints().filter(Character::isLetter).count();
        long chars = text.codePointCount(0, text.length());
        long words = normalized.isEmpty() ? 0 : normalized.split(" ").length;
        return new QualitySignals(hash, chars, words, chars == 0 ? 0 : (double) letters / chars);
    }
}
