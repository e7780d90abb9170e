package millrace.protocol;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The binary form of a {@link TokenShard}, little-endian:
 *
 * <pre>
 * magic "MRTS" | u16 format version | string id | string tokenizer id | u32 seq len | u8 split
 * | u32 doc count | doc count × (string id, i64 ingest millis)
 * | u8 bytes per token (2 when every id fits in 16 bits, else 4) | u32 token count | tokens
 * </pre>
 *
 * Strings are a u16 byte length followed by UTF-8. Token ids are unsigned.
 */
public final class TokenShardCodec implements Serializer<TokenShard>, Deserializer<TokenShard> {
    public static final int FORMAT_VERSION = 1;
    private static final byte[] MAGIC = {'M', 'R', 'T', 'S'};

    public static byte[] encode(TokenShard shard) {
        boolean narrow = true;
        for (int t : shard.tokens()) {
            if (t > 0xFFFF) {
                narrow = false;
                break;
            }
        }
        byte[] id = utf8(shard.id());
        byte[] tokenizer = utf8(shard.tokenizerId());
        List<byte[]> docIds = new ArrayList<>();
        int size = 4 + 2 + 2 + id.length + 2 + tokenizer.length + 4 + 1 + 4 + 1 + 4;
        for (ShardDoc d : shard.docs()) {
            byte[] b = utf8(d.id());
            docIds.add(b);
            size += 2 + b.length + 8;
        }
        size += shard.tokens().length * (narrow ? 2 : 4);
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC).putShort((short) FORMAT_VERSION);
        putString(out, id);
        putString(out, tokenizer);
        out.putInt(shard.seqLen()).put((byte) shard.split().ordinal()).putInt(shard.docs().size());
        for (int i = 0; i < docIds.size(); i++) {
            putString(out, docIds.get(i));
            out.putLong(shard.docs().get(i).ingestedAtMillis());
        }
        out.put((byte) (narrow ? 2 : 4)).putInt(shard.tokens().length);
        for (int t : shard.tokens()) {
            if (narrow) out.putShort((short) t);
            else out.putInt(t);
        }
        return out.array();
    }

    public static TokenShard decode(byte[] bytes) {
        if (bytes == null) throw new InvalidPayloadException("shard", "is null");
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        String field = "magic";
        try {
            byte[] magic = new byte[4];
            in.get(magic);
            if (!java.util.Arrays.equals(magic, MAGIC)) throw new InvalidPayloadException("magic", "not a token shard");
            field = "formatVersion";
            int version = Short.toUnsignedInt(in.getShort());
            if (version != FORMAT_VERSION) {
                throw new InvalidPayloadException("formatVersion", "unsupported version " + version);
            }
            field = "id";
            String id = getString(in);
            field = "tokenizerId";
            String tokenizerId = getString(in);
            field = "seqLen";
            int seqLen = in.getInt();
            field = "split";
            int split = in.get();
            if (split < 0 || split >= Split.values().length) throw new InvalidPayloadException("split", "unknown " + split);
            field = "docs";
            int docCount = in.getInt();
            if (docCount < 0 || docCount > in.remaining()) throw new InvalidPayloadException("docs", "bad count " + docCount);
            List<ShardDoc> docs = new ArrayList<>(docCount);
            for (int i = 0; i < docCount; i++) docs.add(new ShardDoc(getString(in), in.getLong()));
            field = "tokens";
            int width = in.get();
            if (width != 2 && width != 4) throw new InvalidPayloadException("tokens", "bad token width " + width);
            int count = in.getInt();
            if (count < 0 || (long) count * width != in.remaining()) {
                throw new InvalidPayloadException("tokens", "count " + count + " does not match " + in.remaining() + " bytes");
            }
            int[] tokens = new int[count];
            for (int i = 0; i < count; i++) tokens[i] = width == 2 ? Short.toUnsignedInt(in.getShort()) : in.getInt();
            return new TokenShard(id, tokenizerId, seqLen, Split.values()[split], docs, tokens);
        } catch (BufferUnderflowException e) {
            throw new InvalidPayloadException(field, "truncated shard (" + bytes.length + " bytes)", e);
        }
    }

    private static byte[] utf8(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > 0xFFFF) throw new InvalidPayloadException("string", "longer than 65535 bytes");
        return b;
    }

    private static void putString(ByteBuffer out, byte[] b) {
        out.putShort((short) b.length).put(b);
    }

    private static String getString(ByteBuffer in) {
        int len = Short.toUnsignedInt(in.getShort());
        byte[] b = new byte[len];
        in.get(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    @Override
    public byte[] serialize(String topic, TokenShard data) {
        return data == null ? null : encode(data);
    }

    @Override
    public TokenShard deserialize(String topic, byte[] data) {
        return data == null ? null : decode(data);
    }

    @Override
    public void configure(java.util.Map<String, ?> configs, boolean isKey) {}

    @Override
    public void close() {}
}
