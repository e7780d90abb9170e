package millrace.sft;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import millrace.ExternalTools;
import org.junit.jupiter.api.Test;

class GcideInstructionsTest {
    @Test
    void theFirstSenseCleanedOfMarkupEtymologyAndCitations() {
        assertEquals("A table or tray strewn with sand, anciently used for drawing, calculating, etc.", GcideInstructions.definition("""
                Abacus \\Ab"a*cus\\ ([a^]b"[.a]*k[u^]s), n.; E. pl. {Abacuses}; L.
                   pl. {Abaci} (-s[imac]). [L. abacus, abax, Gr. 'a`bax]
                   1. A table or tray strewn with sand, anciently used for
                      drawing, calculating, etc. [Obs.]
                      [1913 Webster]

                   2. A calculating table or frame; an instrument for performing
                      arithmetical calculations by balls sliding on wires.
                      [1913 Webster]
                """));
        // no numbered senses: the definition follows the etymology, its citation dropped
        assertEquals("A thin plate or lamina.", GcideInstructions.definition("""
                Lamp \\Lamp\\ (l[a^]mp), n. [OE. (with excrescent p), fr. F. lame,
                   L. lamina. See {Lamina}.]
                   A thin plate or lamina. [Obs.] --Chaucer.
                   [1913 Webster]
                """));
        // one sentence, the first
        assertEquals("The fruit of a shrub (Cydonia vulgaris) belonging to the same tribe as the apple.", GcideInstructions.definition("""
                Quince \\Quince\\ (kw[i^]ns), n. [Prob. a pl. from OE. quyne,
                   coin, OF. coin, cooin. Cf. {Quiddany}.]
                   1. The fruit of a shrub ({Cydonia vulgaris}) belonging to the
                      same tribe as the apple. It somewhat resembles an apple,
                      but differs in having many seeds in each carpel.
                      [1913 Webster]
                """));
        // a cross-reference is no definition
        assertNull(GcideInstructions.definition("""
                Colour \\Col"our\\, n.
                   See {Color}.
                   [1913 Webster]
                """));
    }

    @Test
    void theHeldOutSplitIsAFixedShareOfWords() {
        assertEquals(GcideInstructions.heldOut("lamp", 0.05), GcideInstructions.heldOut("lamp", 0.05));
        long held = java.util.stream.IntStream.range(0, 20_000).filter(i -> GcideInstructions.heldOut("w" + i, 0.05)).count();
        assertEquals(1000, held, 100);
        assertFalse(GcideInstructions.heldOut("lamp", 0));
        assertTrue(GcideInstructions.heldOut("lamp", 1));
    }

    /** The real dictionary, as {@code sft data gcide} reads it. */
    @Test
    void theInstalledDictionaryGivesTensOfThousandsOfCleanInstructions() throws Exception {
        Path dict = ExternalTools.requireFile(Path.of("/usr/share/dictd/gcide.dict.dz"), "apt-get install dict-gcide");
        List<GcideInstructions.Entry> entries = GcideInstructions.read(dict);
        assertTrue(entries.size() > 30_000, "entries: " + entries.size());
        Map<String, String> byWord = entries.stream().collect(Collectors.toMap(GcideInstructions.Entry::word,
                GcideInstructions.Entry::response));
        assertEquals("A thin plate or lamina.", byWord.get("lamp"));
        assertEquals("What does the word \"lamp\" mean?", entries.stream().filter(e -> e.word().equals("lamp")).findFirst()
                .orElseThrow().prompt());
        for (GcideInstructions.Entry e : entries) {
            String r = e.response();
            assertTrue(r.endsWith(".") && Character.isUpperCase(r.charAt(0)) && r.length() <= 141, r);
            assertFalse(r.contains("[") || r.contains("{") || r.contains("--") || r.contains("\\"), r);
        }
        assertEquals(entries, GcideInstructions.read(dict), "the order is fixed");
    }
}
