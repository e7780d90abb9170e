package millrace.protocol;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class SyncMessageTest {
    private static SyncMessage.Chunk chunk(SyncMessage.Encoding e, int count) {
        byte[] payload = new byte[SyncMessage.payloadBytes(e, count)];
        for (int i = 0; i < payload.length; i++) payload[i] = (byte) (i * 31);
        return new SyncMessage.Chunk("m", "replica-0", 3, 150, 50, 25_600, 0x1234_5678_9abcL, 1, 4, 10_000, 2_500, count, e, payload);
    }

    @Test
    void chunksAndClosesSurviveTheWire() {
        for (SyncMessage.Encoding e : SyncMessage.Encoding.values()) {
            SyncMessage.Chunk c = chunk(e, 2_500);
            SyncMessage.Chunk back = (SyncMessage.Chunk) SyncMessage.decode(SyncMessage.encode(c));
            assertArrayEquals(c.payload(), back.payload());
            assertEquals(c, new SyncMessage.Chunk(back.model(), back.replica(), back.round(), back.step(), back.steps(),
                    back.tokens(), back.baseDigest(), back.chunk(), back.chunks(), back.total(), back.first(), back.count(),
                    back.encoding(), c.payload()));
        }
        SyncMessage.Close close = new SyncMessage.Close("m", "replica-1", 7, 2);
        assertEquals(close, SyncMessage.decode(SyncMessage.encode(close)));
        // int8: one byte per number and a 4-byte scale per 1,024
        assertEquals(2_500 + 3 * 4, SyncMessage.payloadBytes(SyncMessage.Encoding.INT8, 2_500));
    }

    @Test
    void malformedRecordsAreRefusedWithTheFieldNamed() {
        byte[] good = SyncMessage.encode(chunk(SyncMessage.Encoding.FP16, 100));
        assertEquals("payload", assertThrows(InvalidPayloadException.class,
                () -> SyncMessage.decode(Arrays.copyOf(good, good.length - 3))).field());
        assertEquals("message", assertThrows(InvalidPayloadException.class,
                () -> SyncMessage.decode(Arrays.copyOf(good, 30))).field());
        byte[] magic = good.clone();
        magic[0] = 'X';
        assertEquals("magic", assertThrows(InvalidPayloadException.class, () -> SyncMessage.decode(magic)).field());
        byte[] longer = Arrays.copyOf(good, good.length + 1);
        assertEquals("payload", assertThrows(InvalidPayloadException.class, () -> SyncMessage.decode(longer)).field());
        assertEquals("message", assertThrows(InvalidPayloadException.class, () -> SyncMessage.decode(new byte[0])).field());
        // a chunk outside the model's numbers
        assertThrows(IllegalArgumentException.class, () -> new SyncMessage.Chunk("m", "r", 0, 1, 1, 1, 0, 0, 1, 10, 5, 6,
                SyncMessage.Encoding.FP16, new byte[12]));
        assertThrows(IllegalArgumentException.class, () -> new SyncMessage.Chunk("m", "r", 0, 1, 1, 1, 0, 2, 2, 10, 0, 5,
                SyncMessage.Encoding.FP16, new byte[10]));
    }
}
