package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.Test;

/** The fused AdamW kernel does what the AdamW paper (and torch.optim.AdamW) says, group by group. */
class AdamWTest {
    @Test
    void updatesFollowTheFormulaWithDecayOnlyOnMatrices() {
        AdamW.Settings s = new AdamW.Settings(0.9f, 0.95f, 1e-8f, 0.1f);
        float[] w0 = {0.5f, -1f, 2f, 0.25f};
        float[] b0 = {1f, -2f};
        float[][] gw = {{0.1f, -0.2f, 0.3f, 0f}, {-0.05f, 0.4f, 0.1f, 1f}};
        float[][] gb = {{1f, 0.5f}, {-1f, 2f}};
        float[] lrs = {0.01f, 0.005f};
        float scale = 0.5f;
        try (NDManager root = ModelTrainer.newRootManager()) {
            Map<String, NDArray> params = new LinkedHashMap<>();
            params.put("h.0.mlp.c_fc.weight", root.create(w0, new Shape(2, 2)));
            params.put("h.0.mlp.c_fc.bias", root.create(b0));
            try (AdamW adam = new AdamW(params, s, root)) {
                for (int t = 0; t < 2; t++) {
                    try (NDManager step = root.newSubManager()) {
                        Map<String, NDArray> grads = new LinkedHashMap<>();
                        grads.put("h.0.mlp.c_fc.weight", step.create(gw[t], new Shape(2, 2)));
                        grads.put("h.0.mlp.c_fc.bias", step.create(gb[t]));
                        adam.step(params, grads, lrs[t], scale, step);
                    }
                }
            }
            assertArrayEquals(reference(w0, gw, lrs, scale, s, s.weightDecay()), params.get("h.0.mlp.c_fc.weight").toFloatArray(), 1e-6f);
            assertArrayEquals(reference(b0, gb, lrs, scale, s, 0f), params.get("h.0.mlp.c_fc.bias").toFloatArray(), 1e-6f);
        }
    }

    @Test
    void globalNormAndZeroWorkOnWholeLists() {
        try (NDManager root = ModelTrainer.newRootManager();
                AdamW adam = new AdamW(Map.of("w", root.zeros(new Shape(1))), AdamW.Settings.defaults(), root)) {
            NDArray a = root.create(new float[] {3f, 0f});
            NDArray b = root.create(new float[] {4f});
            assertEquals(5f, adam.globalNorm(List.of(a, b), root).getFloat(), 1e-6f);
            NDArray nan = root.create(new float[] {Float.NaN, 1f});
            adam.zero(List.of(a, nan));
            assertArrayEquals(new float[] {0f, 0f}, nan.toFloatArray());
            assertArrayEquals(new float[] {0f, 0f}, a.toFloatArray());
        }
    }

    private static float[] reference(float[] p0, float[][] g, float[] lr, float scale, AdamW.Settings s, float wd) {
        double[] p = new double[p0.length], m = new double[p0.length], v = new double[p0.length];
        for (int i = 0; i < p.length; i++) p[i] = p0[i];
        for (int t = 1; t <= g.length; t++) {
            for (int i = 0; i < p.length; i++) {
                double gi = g[t - 1][i] * scale;
                p[i] *= 1 - lr[t - 1] * wd;
                m[i] = s.beta1() * m[i] + (1 - s.beta1()) * gi;
                v[i] = s.beta2() * v[i] + (1 - s.beta2()) * gi * gi;
                double mHat = m[i] / (1 - Math.pow(s.beta1(), t));
                double vHat = v[i] / (1 - Math.pow(s.beta2(), t));
                p[i] -= lr[t - 1] * mHat / (Math.sqrt(vHat) + s.epsilon());
            }
        }
        float[] out = new float[p.length];
        for (int i = 0; i < p.length; i++) out[i] = (float) p[i];
        return out;
    }
}
