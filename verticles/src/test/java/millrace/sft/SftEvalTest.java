package millrace.sft;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class SftEvalTest {
    @Test
    void tokenF1IsSquadsOverlapOfNormalisedWords() {
        assertEquals(1.0, SftEval.tokenF1("A thin plate.", "a thin  PLATE"), 1e-12);
        // precision 2/3, recall 1
        assertEquals(0.8, SftEval.tokenF1("the cat sat", "The cat."), 1e-12);
        // words count as often as they occur
        assertEquals(2 * (1 / 3.0) * 1 / (1 / 3.0 + 1), SftEval.tokenF1("a a a", "a"), 1e-12);
        assertEquals(0.0, SftEval.tokenF1("dog", "cat"), 1e-12);
        // an empty answer (a turn ended at once) matches nothing but an empty reference
        assertEquals(0.0, SftEval.tokenF1("", "lamina"), 1e-12);
        assertEquals(0.0, SftEval.tokenF1("lamina", ""), 1e-12);
        assertEquals(1.0, SftEval.tokenF1("", "."), 1e-12);
    }
}
