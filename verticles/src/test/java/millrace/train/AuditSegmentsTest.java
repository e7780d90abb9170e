package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuditSegmentsTest {
    @TempDir
    Path dir;

    @Test
    void aCheckpointWrittenAgainAtTheSameStepAddsToItsSegmentAndResumeDropsLaterOnes() throws Exception {
        AuditSegments audit = new AuditSegments(dir, "step");
        audit.write(5, "a\n");
        audit.write(5, "b\n"); // a skipped step, then the checkpoint again at step 5
        audit.write(7, "c\n");
        assertEquals(List.of("a", "b"), Files.readAllLines(audit.segments().get(0)));
        audit.truncateAfter(5);
        assertEquals(1, audit.segments().size());
    }

    @Test
    void aCheckpointWrittenAgainReplacesTheOldOneOnlyOnceItIsWhole() throws Exception {
        CheckpointStore.writeAtomically(dir, "step-000000005", d -> Files.writeString(d.resolve("x"), "old"));
        assertThrows(java.io.IOException.class, () -> CheckpointStore.writeAtomically(dir, "step-000000005", d -> {
            throw new java.io.IOException("disk full");
        }));
        assertEquals("old", Files.readString(dir.resolve("step-000000005/x")), "a failed write leaves the old one");
        CheckpointStore.writeAtomically(dir, "step-000000005", d -> Files.writeString(d.resolve("x"), "new"));
        assertEquals("new", Files.readString(dir.resolve("step-000000005/x")));
        try (var files = Files.list(dir)) {
            assertEquals(List.of("step-000000005"), files.map(p -> p.getFileName().toString()).toList(), "nothing left aside");
        }
    }
}
