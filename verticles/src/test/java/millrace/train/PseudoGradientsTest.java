package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Random;
import millrace.protocol.SyncMessage;
import millrace.protocol.SyncMessage.Encoding;
import org.junit.jupiter.api.Test;

class PseudoGradientsTest {
    private static SyncMessage.Chunk chunk(float[] values, Encoding e) {
        return new SyncMessage.Chunk("m", "r", 0, 1, 1, 1, 0, 0, 1, values.length, 0, values.length, e,
                PseudoGradients.encode(values, 0, values.length, e));
    }

    private static float[] decode(float[] values, Encoding e) {
        float[] out = new float[values.length];
        PseudoGradients.addTo(out, chunk(values, e));
        return out;
    }

    @Test
    void fp16IsLibtorchsHalfBitForBit() {
        Random random = new Random(5);
        float[] values = new float[20_000];
        for (int i = 0; i < values.length; i++) {
            // every range a pseudo-gradient visits: subnormal halves, normal ones, ties, large values
            values[i] = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(12) - 9));
        }
        values[0] = 0x1p-25f; // a tie between zero and the smallest subnormal: to even (zero)
        values[1] = 0x1.002p0f; // a tie between two normal halves
        values[2] = 65_519f; // rounds to the largest half
        values[3] = -0f;
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu(), "PyTorch")) {
            NDArray halves = m.create(values).toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false);
            float[] ours = new float[values.length];
            for (int i = 0; i < values.length; i++) ours[i] = PseudoGradients.fromHalf(PseudoGradients.toHalf(values[i]));
            assertArrayEquals(halves.toFloatArray(), ours);
        }
    }

    @Test
    void fp16ClampsInsteadOfOverflowing() {
        float[] out = decode(new float[] {1e6f, -1e6f}, Encoding.FP16);
        assertArrayEquals(new float[] {65504f, -65504f}, out);
    }

    @Test
    void int8IsOffByAtMostHalfItsBlocksScale() {
        Random random = new Random(11);
        float[] values = new float[5_000];
        for (int i = 0; i < values.length; i++) values[i] = (float) random.nextGaussian() * (i < 1024 ? 1e-4f : 3e-2f);
        values[2000] = 0.5f; // an outlier widens only its own block's scale
        float[] out = decode(values, Encoding.INT8);
        double worst = 0;
        for (int block = 0; block * 1024 < values.length; block++) {
            float max = 0;
            for (int i = block * 1024; i < Math.min(values.length, (block + 1) * 1024); i++) max = Math.max(max, Math.abs(values[i]));
            float bound = max / 127f / 2f * 1.0001f;
            for (int i = block * 1024; i < Math.min(values.length, (block + 1) * 1024); i++) {
                double err = Math.abs(out[i] - values[i]);
                assertTrue(err <= bound, "number " + i + " off by " + err + ", bound " + bound);
                worst = Math.max(worst, err / max);
            }
        }
        assertTrue(worst > 0.001, "the bound is tight, not vacuous: worst relative error " + worst);
        // the small block keeps its precision beside the outlier's
        // (the outlier's block is off by up to 0.5 / 254 = 2e-3; the first block, of numbers near 1e-4, by 1e-6)
        assertTrue(Math.abs(out[10] - values[10]) < 3e-6, "first block: " + out[10] + " vs " + values[10]);
    }

    @Test
    void decodingAddsIntoTheSum() {
        float[] sum = {1f, 2f, 3f};
        PseudoGradients.addTo(sum, chunk(new float[] {0.5f, 0.25f, -1f}, Encoding.FP16));
        assertArrayEquals(new float[] {1.5f, 2.25f, 2f}, sum);
    }
}
