package millrace.protocol;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * What trainer replicas of one model (DiLoCo) write on {@code millrace.sync}, keyed by the model's name: the chunks of
 * a replica's pseudo-gradient for a round, and the marks that close rounds. The topic has one partition, so every
 * replica reads the same order, and the order alone decides which contributions a round sums (see
 * {@code train.SyncLog}). Binary, little-endian, because the payload is numbers (JSON would add a third):
 *
 * <pre>
 * magic "MRSY" | u8 version | u8 kind (1 chunk, 2 close) | string model | string replica | i64 round
 * close: | i32 expected
 * chunk: | i64 step | i32 steps | i64 tokens | i64 base digest | i32 chunk | i32 chunks | i64 total | i64 first
 *        | i32 count | u8 encoding | u32 payload length | payload
 * </pre>
 *
 * Strings are a u16 byte length and UTF-8.
 */
public sealed interface SyncMessage permits SyncMessage.Chunk, SyncMessage.Close {
    /** How a chunk's numbers are written: fp16, or int8 with one fp32 scale per {@link #INT8_BLOCK} numbers. */
    enum Encoding { FP16, INT8 }

    /** Numbers per int8 scale. */
    int INT8_BLOCK = 1024;
    /** Numbers per chunk at most: a chunk is one record, under the broker's default 1 MB record limit. */
    int MAX_CHUNK = 1 << 18;

    String model();

    String replica();

    long round();

    /**
     * One piece of a replica's pseudo-gradient (the weights the round began at minus its weights now): numbers
     * {@code [first, first + count)} of the {@code total} numbers of the model's parameters, flattened in their order.
     *
     * @param round the round open when the replica published
     * @param step the replica's optimizer step when it published (with {@code replica}, names the contribution)
     * @param steps the optimizer steps the pseudo-gradient spans
     * @param tokens the tokens those steps trained on
     * @param baseDigest digest of the weights the round began at: a replica that began elsewhere is refused
     */
    record Chunk(String model, String replica, long round, long step, int steps, long tokens, long baseDigest,
            int chunk, int chunks, long total, long first, int count, Encoding encoding, byte[] payload)
            implements SyncMessage {
        public Chunk {
            if (chunks < 1 || chunk < 0 || chunk >= chunks) throw new IllegalArgumentException("chunk " + chunk + " of " + chunks);
            if (count < 1 || count > MAX_CHUNK || first < 0 || first + count > total) {
                throw new IllegalArgumentException("numbers [" + first + ", " + (first + count) + ") of " + total);
            }
            if (payload.length != payloadBytes(encoding, count)) {
                throw new IllegalArgumentException(encoding + " payload of " + count + " numbers is "
                        + payloadBytes(encoding, count) + " bytes, not " + payload.length);
            }
        }
    }

    /**
     * Closes round {@code round}: it sums the contributions completed before this mark (the first for the round).
     * {@code expected}: how many replicas the closer waited for (more than the round sums: it timed out).
     */
    record Close(String model, String replica, long round, int expected) implements SyncMessage {}

    /** Bytes of {@code count} numbers: 2 each in fp16; 1 each plus a 4-byte scale per block in int8. */
    static int payloadBytes(Encoding encoding, int count) {
        return encoding == Encoding.FP16 ? 2 * count : count + 4 * int8Blocks(count);
    }

    /** Blocks of {@link #INT8_BLOCK} numbers (the last one short) that {@code count} numbers take in int8. */
    static int int8Blocks(int count) {
        return (count + INT8_BLOCK - 1) / INT8_BLOCK;
    }

    byte[] MAGIC = {'M', 'R', 'S', 'Y'};
    int VERSION = 1;

    static byte[] encode(SyncMessage m) {
        byte[] model = utf8(m.model());
        byte[] replica = utf8(m.replica());
        int size = 4 + 1 + 1 + 2 + model.length + 2 + replica.length + 8;
        size += m instanceof Chunk c ? 8 + 4 + 8 + 8 + 4 + 4 + 8 + 8 + 4 + 1 + 4 + c.payload().length : 4;
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).put((byte) VERSION).put((byte) (m instanceof Chunk ? 1 : 2));
        b.putShort((short) model.length).put(model).putShort((short) replica.length).put(replica).putLong(m.round());
        if (m instanceof Chunk c) {
            b.putLong(c.step()).putInt(c.steps()).putLong(c.tokens()).putLong(c.baseDigest()).putInt(c.chunk())
                    .putInt(c.chunks()).putLong(c.total()).putLong(c.first()).putInt(c.count())
                    .put((byte) c.encoding().ordinal()).putInt(c.payload().length).put(c.payload());
        } else {
            b.putInt(((Close) m).expected());
        }
        return b.array();
    }

    /** The message in {@code bytes}; an {@link InvalidPayloadException} saying what is wrong with anything else. */
    static SyncMessage decode(byte[] bytes) {
        try {
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            for (byte m : MAGIC) {
                if (b.get() != m) throw new InvalidPayloadException("magic", "not a sync message");
            }
            int version = b.get();
            if (version != VERSION) throw new InvalidPayloadException("version", version + ", expected " + VERSION);
            int kind = b.get();
            String model = string(b);
            String replica = string(b);
            long round = b.getLong();
            if (round < 0) throw new InvalidPayloadException("round", "negative: " + round);
            if (kind == 2) {
                int expected = b.getInt();
                if (b.hasRemaining()) throw new InvalidPayloadException("close", "trailing bytes");
                return new Close(model, replica, round, expected);
            }
            if (kind != 1) throw new InvalidPayloadException("kind", "unknown: " + kind);
            long step = b.getLong();
            int steps = b.getInt();
            long tokens = b.getLong();
            long digest = b.getLong();
            int chunk = b.getInt();
            int chunks = b.getInt();
            long total = b.getLong();
            long first = b.getLong();
            int count = b.getInt();
            int encoding = b.get();
            if (encoding < 0 || encoding >= Encoding.values().length) throw new InvalidPayloadException("encoding", "unknown: " + encoding);
            int length = b.getInt();
            if (length != b.remaining()) throw new InvalidPayloadException("payload", length + " bytes, " + b.remaining() + " left");
            byte[] payload = new byte[length];
            b.get(payload);
            return new Chunk(model, replica, round, step, steps, tokens, digest, chunk, chunks, total, first, count,
                    Encoding.values()[encoding], payload);
        } catch (BufferUnderflowException e) {
            throw new InvalidPayloadException("message", "cut short");
        } catch (IllegalArgumentException e) {
            throw new InvalidPayloadException("chunk", e.getMessage());
        }
    }

    private static String string(ByteBuffer b) {
        int n = Short.toUnsignedInt(b.getShort());
        if (n > 256) throw new InvalidPayloadException("name", n + " bytes (at most 256)");
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static byte[] utf8(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > 256) throw new IllegalArgumentException("name longer than 256 bytes: " + s);
        return b;
    }
}
