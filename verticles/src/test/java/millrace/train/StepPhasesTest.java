package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Timing a step's phases ({@code bench train --phases}) measures each phase and changes nothing the step computes. */
class StepPhasesTest {
    /** Losses of three steps, and the weights after them; phases timed from the second step on when asked. */
    private static List<float[]> train(boolean timed, ModelTrainer.Loss loss, int micro, List<ModelTrainer.Phases> phases) {
        TrainSettings settings = TinyRuns.settings(micro);
        try (NDManager root = ModelTrainer.newRootManager()) {
            ModelTrainer trainer = TinyRuns.trainer(settings, root, loss);
            Random r = new Random(3);
            List<float[]> out = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                if (i == 1) trainer.timePhases(timed);
                ModelTrainer.StepResult step = trainer.step(TinyRuns.rows(r, 8));
                out.add(new float[] {step.loss()});
                if (i == 0) assertNull(trainer.lastPhases(), "no phases while not timing");
                else if (timed) phases.add(trainer.lastPhases());
            }
            trainer.model().parameters().values().forEach(p -> out.add(p.toFloatArray()));
            trainer.close();
            return out;
        }
    }

    @Test
    void phasesAreTimedWithoutChangingTheStep() {
        for (ModelTrainer.Loss loss : ModelTrainer.Loss.values()) {
            for (int micro : new int[] {8, 3}) {
                List<ModelTrainer.Phases> phases = new ArrayList<>();
                List<float[]> plain = train(false, loss, micro, new ArrayList<>());
                List<float[]> timed = train(true, loss, micro, phases);
                for (int i = 0; i < plain.size(); i++) {
                    assertArrayEquals(plain.get(i), timed.get(i), "loss " + loss + ", micro " + micro + ", array " + i);
                }
                assertEquals(2, phases.size());
                for (ModelTrainer.Phases p : phases) {
                    assertNotNull(p);
                    assertTrue(p.forwardMs() > 0 && p.backwardMs() > 0 && p.updateMs() > 0, p.toString());
                    assertTrue(p.forwardMs() + p.backwardMs() + p.updateMs() < 60_000, p.toString());
                }
            }
        }
    }
}
