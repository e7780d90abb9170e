package millrace.dedup;

import static org.junit.jupiter.api.Assertions.*;

import millrace.protocol.RejectReason;
import org.junit.jupiter.api.Test;

/** Each filter's rules on small texts made to trip exactly one of them. */
class QualityFiltersTest {
    private static final String PROSE = "The quick brown fox jumps over the lazy dog and then it runs to the river with "
            + "the other animals of the forest. ";

    private static String reason(QualityFilter f, String text) {
        QualityFilter.Outcome o = f.check(text);
        return o instanceof QualityFilter.Fail fail ? fail.reason().label() + " " + fail.detail() : "pass";
    }

    @Test
    void gopherQuality() {
        GopherQualityFilter g = GopherQualityFilter.DEFAULT;
        assertEquals("pass", reason(g, PROSE.repeat(3)));
        assertTrue(reason(g, "Too few words here.").contains("gopher_short_doc"));
        assertTrue(reason(g, "a b c d e f g h i j ".repeat(10)).contains("gopher_below_avg_threshold"));
        assertTrue(reason(g, PROSE.repeat(3) + "#tag ".repeat(20)).contains("gopher_too_many_hashes"));
        assertTrue(reason(g, "- item of the list and more\n".repeat(30)).contains("gopher_too_many_bullets"));
        assertTrue(reason(g, "Cats dogs birds fish horses cows sheep goats pigs ducks. ".repeat(6)).contains("gopher_enough_stop_words"));
        assertTrue(reason(g, PROSE + "1234 5678 ++++ ---- 0000 ".repeat(20)).contains("gopher_below_alpha_threshold"));
    }

    @Test
    void gopherRepetition() {
        GopherRepetitionFilter g = GopherRepetitionFilter.DEFAULT;
        StringBuilder varied = new StringBuilder();
        java.util.Random r = new java.util.Random(5);
        for (int i = 0; i < 30; i++) {
            for (int w = 0; w < 8; w++) varied.append("word").append(r.nextInt(100_000)).append(' ');
            varied.append(".\n");
        }
        assertEquals("pass", reason(g, varied.toString()));
        assertTrue(reason(g, varied + "Buy now.\n".repeat(20)).startsWith("gopher_repetition dup_line_frac"));
        assertTrue(reason(g, varied + "\n\n" + ("Same paragraph here.\n\n").repeat(20)).startsWith("gopher_repetition dup_para"));
        assertTrue(reason(g, PROSE.repeat(8)).startsWith("gopher_repetition"), reason(g, PROSE.repeat(8)));
    }

    @Test
    void c4CleansLinesAndRejectsDocuments() {
        C4QualityFilter c4 = C4QualityFilter.DEFAULT;
        String text = "First sentence of the page. Second one here.\nMenu\nThis site uses cookies to work well.\n"
                + "Enable javascript to see the map please.\nThird sentence is here [1]. Fourth one. Fifth and last one.";
        QualityFilter.Pass pass = assertInstanceOf(QualityFilter.Pass.class, c4.check(text));
        assertEquals("First sentence of the page. Second one here.\nThird sentence is here . Fourth one. Fifth and last one.",
                pass.text());
        assertTrue(reason(c4, "Lorem ipsum dolor sit amet. " + text).contains("lorem_ipsum"));
        assertTrue(reason(c4, text + "\nfunction f() { return 1; }").contains("curly_bracket"));
        assertTrue(reason(c4, "Only one sentence here.").contains("too_few_sentences"));
        String noStop = "One line without a stop\nTwo. Three. Four. Five.";
        assertEquals("One line without a stop\nTwo. Three. Four. Five.", ((QualityFilter.Pass) c4.check(noStop)).text());
        assertTrue(reason(new C4QualityFilter(true, 5, 3, 1000), noStop).contains("too_few_sentences"),
                "with terminal punctuation required, the first line goes and too few sentences stay");
    }

    @Test
    void languageAllowList() {
        LanguageFilter en = new LanguageFilter(java.util.Set.of("en"), 0.65);
        assertEquals("pass", reason(en, PROSE.repeat(3)));
        String french = "Au commencement, Dieu créa les cieux et la terre. La terre était informe et vide: il y avait "
                + "des ténèbres à la surface de l'abîme, et l'esprit de Dieu se mouvait au-dessus des eaux.";
        assertTrue(reason(en, french).startsWith("language fr"), reason(en, french));
        assertEquals("pass", reason(new LanguageFilter(java.util.Set.of("en", "fr"), 0.65), french));
        assertEquals(RejectReason.LANGUAGE, ((QualityFilter.Fail) en.check(french)).reason());
    }

    @Test
    void piiRedactionKeepsPrivateAddresses() {
        PiiRedactor.Redacted r = new PiiRedactor().redact(
                "Mail jane.doe+list@mail.example.co.uk or ops@corp.io; server 93.184.216.34, gateway 192.168.1.1, "
                        + "loopback 127.0.0.1, version 1.2.3.4.5, range 10.0.0.0/8, DNS 8.8.8.8.");
        assertEquals("Mail email@example.com or email@example.com; server 192.0.2.1, gateway 192.168.1.1, "
                + "loopback 127.0.0.1, version 1.2.3.4.5, range 10.0.0.0/8, DNS 192.0.2.1.", r.text());
        assertEquals(2, r.emails());
        assertEquals(2, r.ips());
    }
}
