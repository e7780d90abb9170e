package millrace.protocol;

import java.util.Arrays;
import java.util.List;

/**
 * A packed block of training sequences on {@code millrace.shards}: {@code tokens.length / (seqLen + 1)} rows, each
 * {@code seqLen + 1} tokens long (inputs plus the next-token target). Encoded by {@link TokenShardCodec}.
 *
 * @param id unique and deterministic: where in the document stream the shard starts
 * @param tokenizerId the tokenizer that produced the ids; a trainer refuses shards of another tokenizer
 * @param seqLen model context length the rows were packed for
 * @param split train or validation
 * @param docs the documents whose tokens are inside, in order
 * @param tokens the packed ids
 */
public record TokenShard(String id, String tokenizerId, int seqLen, Split split, List<ShardDoc> docs, int[] tokens) {
    public TokenShard {
        Check.text("id", id);
        Check.text("tokenizerId", tokenizerId);
        Check.positive("seqLen", seqLen);
        Check.present("split", split);
        docs = List.copyOf(Check.notEmpty("docs", docs));
        Check.present("tokens", tokens);
        if (tokens.length == 0 || tokens.length % (seqLen + 1) != 0) {
            throw new InvalidPayloadException("tokens",
                    "length " + tokens.length + " is not a positive multiple of seqLen + 1 = " + (seqLen + 1));
        }
        for (int t : tokens) {
            if (t < 0) throw new InvalidPayloadException("tokens", "negative token id " + t);
        }
    }

    /** Number of rows of {@code seqLen + 1} tokens. */
    public int rows() {
        return tokens.length / (seqLen + 1);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenShard s && id.equals(s.id) && tokenizerId.equals(s.tokenizerId)
                && seqLen == s.seqLen && split == s.split && docs.equals(s.docs) && Arrays.equals(tokens, s.tokens);
    }

    @Override
    public int hashCode() {
        return 31 * id.hashCode() + Arrays.hashCode(tokens);
    }

    @Override
    public String toString() {
        return "TokenShard[" + id + ", " + split.label() + ", " + rows() + " rows x " + (seqLen + 1) + ", "
                + docs.size() + " docs, tokenizer " + tokenizerId + "]";
    }
}
