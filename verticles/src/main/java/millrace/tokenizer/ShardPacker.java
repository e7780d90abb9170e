package millrace.tokenizer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import millrace.protocol.ShardDoc;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;

/**
 * Packs the token stream of one input partition and one split into rows of {@code seqLen + 1} tokens and rows into
 * shards. It knows, for every token still waiting, which document (and input offset) it came from, so the stage can
 * commit the exact position of the first token not yet in a shard: {@link #pending(long)}.
 */
public final class ShardPacker {

    /** The first document (by input offset) with tokens not yet in a shard, and how many of its tokens already are. */
    public record Position(long offset, int emitted) {
        @Override
        public String toString() {
            return offset + ":" + emitted;
        }

        public static Position parse(String s) {
            int colon = s.indexOf(':');
            return new Position(Long.parseLong(s.substring(0, colon)), Integer.parseInt(s.substring(colon + 1)));
        }
    }

    /** Tokens of one document that wait in the buffer: {@code count} of them, starting at its token {@code start}. */
    private record Slice(ShardDoc doc, long offset, int start, int count) {}

    private final String idPrefix;
    private final String tokenizerId;
    private final int seqLen;
    private final Split split;
    private final Position resumeFrom;
    private final ArrayDeque<Slice> slices = new ArrayDeque<>();
    private int[] buffer = new int[1024];
    private int size;

    /**
     * @param resumeFrom where the previous owner of the partition left this split (null: nothing shipped before);
     *     documents before it are skipped, and of the document at it only the tokens not yet shipped are packed
     */
    public ShardPacker(String idPrefix, String tokenizerId, int seqLen, Split split, Position resumeFrom) {
        this.idPrefix = idPrefix;
        this.tokenizerId = tokenizerId;
        this.seqLen = seqLen;
        this.split = split;
        this.resumeFrom = resumeFrom;
    }

    /** Whether every token of the document at input {@code offset} was shipped before the restart. */
    public boolean shippedBefore(long offset) {
        return resumeFrom != null && offset < resumeFrom.offset();
    }

    /** Appends the tokens of the document at input {@code offset} that are not in a shard yet. */
    public void add(long offset, ShardDoc doc, int[] tokens) {
        int skip = 0;
        if (shippedBefore(offset)) return;
        if (resumeFrom != null && offset == resumeFrom.offset()) skip = resumeFrom.emitted();
        int n = tokens.length - skip;
        if (n <= 0) return;
        if (size + n > buffer.length) buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, size + n));
        System.arraycopy(tokens, skip, buffer, size, n);
        size += n;
        slices.add(new Slice(doc, offset, skip, n));
    }

    public int fullRows() {
        return size / (seqLen + 1);
    }

    /** Removes the first {@code rows} complete rows as a shard. */
    public TokenShard take(int rows) {
        if (rows <= 0 || rows > fullRows()) throw new IllegalArgumentException("only " + fullRows() + " full rows");
        int n = rows * (seqLen + 1);
        Slice first = slices.peekFirst();
        String id = idPrefix + "-" + first.offset() + "+" + first.start();
        List<ShardDoc> docs = new ArrayList<>();
        int remaining = n;
        while (remaining > 0) {
            Slice s = slices.pollFirst();
            docs.add(s.doc());
            if (s.count() > remaining) {
                slices.addFirst(new Slice(s.doc(), s.offset(), s.start() + remaining, s.count() - remaining));
                remaining = 0;
            } else {
                remaining -= s.count();
            }
        }
        int[] tokens = Arrays.copyOf(buffer, n);
        System.arraycopy(buffer, n, buffer, 0, size - n);
        size -= n;
        return new TokenShard(id, tokenizerId, seqLen, split, docs, tokens);
    }

    /** Where to resume this split after a restart, given the input's next unread offset. */
    public Position pending(long position) {
        Slice first = slices.peekFirst();
        if (first != null) return new Position(first.offset(), first.start());
        // nothing waiting: resume after everything read, unless the old resume point is not reached yet
        return resumeFrom != null && resumeFrom.offset() >= position ? resumeFrom : new Position(position, 0);
    }

    public Split split() {
        return split;
    }
}
