package millrace.train;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import millrace.protocol.SyncMessage;
import millrace.protocol.SyncMessage.Encoding;

/**
 * Pseudo-gradients as the bytes of {@link SyncMessage.Chunk}s and back. fp16 rounds each number to the nearest half
 * (ties to even, as libtorch's cast does); int8 stores each block of {@link SyncMessage#INT8_BLOCK} numbers as
 * {@code round(x / scale)} with {@code scale = max|x| / 127}, so a number is off by at most half its block's scale.
 * Plain Java arithmetic: every replica decodes the same bytes to the same floats on any CPU.
 */
final class PseudoGradients {
    private PseudoGradients() {}

    /** The bytes of {@code values[first, first + count)}. */
    static byte[] encode(float[] values, int first, int count, Encoding encoding) {
        ByteBuffer b = ByteBuffer.allocate(SyncMessage.payloadBytes(encoding, count)).order(ByteOrder.LITTLE_ENDIAN);
        if (encoding == Encoding.FP16) {
            // clamped to the half range: one infinity would make every replica's weights NaN
            for (int i = 0; i < count; i++) b.putShort(toHalf(Math.max(-65504f, Math.min(65504f, values[first + i]))));
            return b.array();
        }
        int blocks = SyncMessage.int8Blocks(count);
        float[] scales = new float[blocks];
        for (int k = 0; k < blocks; k++) {
            float max = 0;
            for (int i = k * SyncMessage.INT8_BLOCK, end = Math.min(count, i + SyncMessage.INT8_BLOCK); i < end; i++) {
                max = Math.max(max, Math.abs(values[first + i]));
            }
            scales[k] = max / 127f;
            b.putFloat(scales[k]);
        }
        for (int i = 0; i < count; i++) {
            float scale = scales[i / SyncMessage.INT8_BLOCK];
            int q = scale == 0 ? 0 : Math.round(values[first + i] / scale);
            b.put((byte) Math.max(-127, Math.min(127, q)));
        }
        return b.array();
    }

    /** Adds the numbers of {@code chunk} to {@code sum[chunk.first() ...]}. */
    static void addTo(float[] sum, SyncMessage.Chunk chunk) {
        ByteBuffer b = ByteBuffer.wrap(chunk.payload()).order(ByteOrder.LITTLE_ENDIAN);
        int first = (int) chunk.first();
        int count = chunk.count();
        if (chunk.encoding() == Encoding.FP16) {
            for (int i = 0; i < count; i++) sum[first + i] += fromHalf(b.getShort());
            return;
        }
        int blocks = SyncMessage.int8Blocks(count);
        float[] scales = new float[blocks];
        for (int k = 0; k < blocks; k++) scales[k] = b.getFloat();
        for (int i = 0; i < count; i++) sum[first + i] += b.get() * scales[i / SyncMessage.INT8_BLOCK];
    }

    /** The nearest IEEE half to {@code f} (ties to even); beyond the half range, infinity; NaN stays NaN. */
    static short toHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xff;
        int mant = bits & 0x7fffff;
        if (exp == 0xff) return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
        int e = exp - 127 + 15;
        if (e >= 0x1f) return (short) (sign | 0x7c00);
        if (e <= 0) {
            if (e < -10) return (short) sign; // below half the smallest subnormal: zero
            int m = mant | 0x800000;
            int shift = 14 - e;
            int half = m >> shift;
            int rest = m & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rest > mid || rest == mid && (half & 1) != 0) half++;
            return (short) (sign | half);
        }
        int half = (e << 10) | (mant >> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || rest == 0x1000 && (half & 1) != 0) half++; // a carry into the exponent is right too
        return (short) (sign | half);
    }

    static float fromHalf(short h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0) {
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }
}
