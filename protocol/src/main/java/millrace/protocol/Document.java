package millrace.protocol;

import java.util.Map;

/**
 * A document on {@code millrace.docs} (raw) and {@code millrace.docs.clean} (with {@link #quality()}).
 *
 * @param id deterministic id: a hash of source and content, so re-ingesting the same input adds nothing new
 * @param source where it came from (file path or URL)
 * @param title a human title (file name, HTML title), may be empty
 * @param text the UTF-8 text
 * @param contentType MIME type of what was read, e.g. {@code text/plain}
 * @param language ISO 639-1 code when known, else null
 * @param ingestedAtMillis wall-clock time the ingest stage read it: the start of the freshness clock
 * @param metadata reader-specific facts (sizes, offsets); small, never the text
 * @param quality set by the dedup/filter stage on {@code millrace.docs.clean}, null on {@code millrace.docs}
 */
public record Document(
        String id,
        String source,
        String title,
        String text,
        String contentType,
        String language,
        long ingestedAtMillis,
        Map<String, String> metadata,
        QualitySignals quality) {

    public Document {
        Check.text("id", id);
        Check.text("source", source);
        title = title == null ? "" : title;
        Check.present("text", text);
        Check.text("contentType", contentType);
        Check.nonNegative("ingestedAtMillis", ingestedAtMillis);
        metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
    }

    public Document withQuality(QualitySignals signals) {
        return new Document(id, source, title, text, contentType, language, ingestedAtMillis, metadata, signals);
    }
}
