package millrace.protocol;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TokenShardCodecTest {
    private static TokenShard shard(int seqLen, int rows, int maxId) {
        Random random = new Random(seqLen * 31L + rows);
        int[] tokens = new int[rows * (seqLen + 1)];
        for (int i = 0; i < tokens.length; i++) tokens[i] = random.nextInt(maxId);
        tokens[0] = maxId - 1;
        return new TokenShard("p0-train-o1s0", "r50k_base", seqLen, Split.TRAIN,
                List.of(new ShardDoc("d1", 5), new ShardDoc("d2", 6)), tokens);
    }

    @Test
    void sixteenBitIdsWhenTheyFit() {
        TokenShard s = shard(8, 3, 50257);
        byte[] bytes = TokenShardCodec.encode(s);
        assertEquals(s, TokenShardCodec.decode(bytes));
        assertEquals(27 * 2, bytes.length - headerLength(s));
    }

    @Test
    void thirtyTwoBitIdsForLargeVocabularies() {
        TokenShard s = shard(8, 3, 200_019);
        byte[] bytes = TokenShardCodec.encode(s);
        assertEquals(s, TokenShardCodec.decode(bytes));
        assertEquals(27 * 4, bytes.length - headerLength(s));
    }

    private static int headerLength(TokenShard s) {
        int n = 4 + 2 + 2 + s.id().length() + 2 + s.tokenizerId().length() + 4 + 1 + 4 + 1 + 4;
        for (ShardDoc d : s.docs()) n += 2 + d.id().length() + 8;
        return n;
    }

    @Test
    void truncatedShardNamesWhereItStopped() {
        byte[] bytes = TokenShardCodec.encode(shard(8, 3, 1000));
        InvalidPayloadException e = assertThrows(InvalidPayloadException.class,
                () -> TokenShardCodec.decode(Arrays.copyOf(bytes, bytes.length - 3)));
        assertEquals("tokens", e.field());
        e = assertThrows(InvalidPayloadException.class, () -> TokenShardCodec.decode(Arrays.copyOf(bytes, 12)));
        assertEquals("id", e.field());
    }

    @Test
    void foreignBytesAreRefused() {
        assertEquals("magic", assertThrows(InvalidPayloadException.class,
                () -> TokenShardCodec.decode("{\"json\":1}".getBytes())).field());
        byte[] bytes = TokenShardCodec.encode(shard(4, 1, 100));
        bytes[4] = 9;
        assertEquals("formatVersion", assertThrows(InvalidPayloadException.class,
                () -> TokenShardCodec.decode(bytes)).field());
    }

    @Test
    void rowsMustBeWhole() {
        assertEquals("tokens", assertThrows(InvalidPayloadException.class, () -> new TokenShard("s", "t", 4,
                Split.VAL, List.of(new ShardDoc("d", 0)), new int[7])).field());
    }
}
