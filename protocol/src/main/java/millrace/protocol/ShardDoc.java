package millrace.protocol;

/** A document whose tokens (some or all) are in a shard, with its ingest time for the freshness clock. */
public record ShardDoc(String id, long ingestedAtMillis) {
    public ShardDoc {
        Check.text("docs.id", id);
        Check.nonNegative("docs.ingestedAtMillis", ingestedAtMillis);
    }
}
