package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class SamplerTest {
    @Test
    void greedyTakesTheLargestLogit() {
        assertEquals(2, Sampler.pick(new float[] {0.1f, 3f, 5f, -1f}, 0f, 0, new Random(1)));
    }

    @Test
    void topKNeverPicksOutsideTheK() {
        Random r = new Random(3);
        float[] logits = {5f, 4.9f, 0f, 0f, 0f, 0f};
        for (int i = 0; i < 2000; i++) assertTrue(Sampler.pick(logits, 1.5f, 2, r) <= 1);
    }

    @Test
    void temperatureFollowsTheDistribution() {
        Random r = new Random(5);
        float[] logits = {0f, (float) Math.log(3)};
        int ones = 0;
        for (int i = 0; i < 20000; i++) ones += Sampler.pick(logits, 1f, 0, r);
        assertEquals(0.75, ones / 20000.0, 0.02);
    }
}
