package millrace.dedup;

import java.util.List;
import millrace.protocol.DedupClaim;
import millrace.protocol.Document;
import millrace.protocol.QualitySignals;
import millrace.protocol.RejectReason;

/**
 * The stateless half of the dedup stage: quality filters, then what the index needs (text hash and MinHash
 * signature), then — for documents the index keeps — PII redaction and the quality signals. Deterministic, so a
 * replayed document gets the same result; thread-safe.
 */
public final class DocumentScreen {

    /** What screening made of a document. */
    public sealed interface Screened permits Candidate, Filtered {}

    /** A document the filters passed: it may still be a duplicate. */
    public record Candidate(Document doc, String text, String textHash, int[] signature, String language,
            double languageConfidence) implements Screened {

        public DedupClaim claim(String input) {
            return new DedupClaim(doc.id(), doc.source(), input, textHash, signature, System.currentTimeMillis());
        }
    }

    /** A document a filter rejected. */
    public record Filtered(Document doc, RejectReason reason, String detail) implements Screened {
        /** Its record in the claim log: judged once, whatever number of times it is ingested. */
        public DedupClaim claim(String input) {
            return new DedupClaim(doc.id(), doc.source(), input, TextHash.of(doc.text()), new int[0],
                    System.currentTimeMillis(), reason);
        }
    }

    private final DedupSettings settings;
    private final List<QualityFilter> filters;
    private final MinHasher hasher;
    private final LanguageFilter identifier;
    private final PiiRedactor redactor = new PiiRedactor();

    public DocumentScreen(DedupSettings settings) {
        this.settings = settings;
        this.filters = settings.filters();
        this.hasher = settings.nearDuplicates().hasher();
        this.identifier = settings.languages().isEmpty() ? null
                : new LanguageFilter(settings.languages(), settings.languageThreshold());
    }

    public Screened screen(Document doc) {
        String text = doc.text();
        String language = doc.language();
        double confidence = 0;
        if (identifier != null) { // once: the identification is both a filter and the clean document's language
            LanguageFilter.Identified id = identifier.identify(text);
            if (identifier.check(id, text) instanceof QualityFilter.Fail fail) {
                return new Filtered(doc, fail.reason(), fail.detail());
            }
            language = id.language();
            confidence = id.confidence();
        }
        for (QualityFilter f : filters) {
            QualityFilter.Outcome outcome = f.check(text);
            if (outcome instanceof QualityFilter.Fail fail) return new Filtered(doc, fail.reason(), fail.detail());
            text = ((QualityFilter.Pass) outcome).text();
        }
        return new Candidate(doc, text, TextHash.of(text), hasher.signature(text), language, confidence);
    }

    /** The document as {@code millrace.docs.clean} carries it: filtered, redacted, measured. */
    public Redaction clean(Candidate c) {
        String text = c.text();
        int emails = 0;
        int ips = 0;
        if (settings.redactPii()) {
            PiiRedactor.Redacted r = redactor.redact(text);
            text = r.text();
            emails = r.emails();
            ips = r.ips();
        }
        long chars = text.codePointCount(0, text.length());
        long letters = text.codePoints().filter(Character::isLetter).count();
        QualitySignals q = new QualitySignals(c.textHash(), chars, Words.of(text).size(),
                chars == 0 ? 0 : (double) letters / chars, c.languageConfidence(), emails + ips);
        Document d = c.doc();
        Document clean = new Document(d.id(), d.source(), d.title(), text, d.contentType(), c.language(),
                d.ingestedAtMillis(), d.metadata(), q);
        return new Redaction(clean, emails, ips);
    }

    /** A clean document and the addresses redacted in it. */
    public record Redaction(Document clean, int emails, int ips) {}
}
