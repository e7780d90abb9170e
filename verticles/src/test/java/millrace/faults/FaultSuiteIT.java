package millrace.faults;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fault suite's short variant ({@code ./millrace bench faults} runs the long one): the broker and six roles in
 * their own processes, each role killed once with SIGKILL and once with SIGTERM and the broker once with SIGKILL while
 * a corpus streams in and a rater rates; nothing lost, nothing duplicated, at any stage (documents, shards, training
 * rows, acknowledged ratings and their use by the feedback role); then mutated requests and files, with no 5xx, no
 * process death, and every rejection counted.
 */
class FaultSuiteIT {
    @TempDir
    Path dir;

    @Test
    void nothingIsLostOrDuplicatedWhenAnyProcessDies() throws Exception {
        FaultSuite.Report r = new FaultSuite(new FaultSuite.Settings(dir, Path.of("../corpus/kjv"), 11, 450, 0.05, 50,
                1, 400, 20, Duration.ofMinutes(6)), System.err::println).run();
        assertEquals(2 * FaultSuite.ROLES.size() + 1, r.faults().size());
        r.audit().stages().forEach((stage, s) -> {
            assertEquals(0, s.lost(), stage + " lost: " + s.examples());
            assertEquals(0, s.duplicated(), stage + " duplicated: " + s.examples());
            assertTrue(s.audited() > 0, stage + " audited nothing");
        });
        assertTrue(r.audit().stages().get("ingest").audited() >= 450, "valid and malformed lines audited");
        assertTrue(r.audit().stages().get("ratings").audited() > 0, "ratings were acknowledged during the faults");
        assertEquals(java.util.List.of(), r.http().failures());
        assertEquals(r.httpRejections(), r.httpRejectionsCounted(), "every HTTP rejection counted");
        assertTrue(r.httpRejections() > 100, "the fuzzer's requests were mostly rejected: " + r.http().byStatus());
        assertEquals(r.fileRejections(), r.fileRejectionsCounted(), "every rejected input counted");
        assertTrue(r.fileRejections() > 0, "mutated files were rejected");
        assertTrue(r.unexpectedDeaths().isEmpty(), "died by themselves: " + r.unexpectedDeaths());
        assertTrue(r.passed());
    }
}
