package millrace.cli;

import static org.junit.jupiter.api.Assertions.*;

import millrace.train.TrainSettings;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** `millrace train`'s options become the trainer's settings; nonsense is refused with the reason. */
class TrainOptionsTest {
    private static TrainSettings parse(String... args) {
        TrainCommand command = new TrainCommand();
        new CommandLine(command).parseArgs(args);
        return command.train.settings(command.process.tokenizer(), 50257, command.process.seqLen);
    }

    @Test
    void everyHyperParameterReachesTheSettings() {
        TrainSettings s = parse("--model", "small", "--seq-len", "128", "--model-name", "run-7", "--dropout", "0.1",
                "--batch-size", "32", "--micro-batch-size", "8", "--lr", "6e-4", "--min-lr", "6e-5", "--warmup-steps", "100",
                "--decay-steps", "4000", "--weight-decay", "0.05", "--beta1", "0.85", "--beta2", "0.99", "--grad-clip", "0.5",
                "--seed", "7", "--precision", "FP16", "--device", "cpu", "--eval-every", "25", "--checkpoint-every", "30",
                "--keep-checkpoints", "5", "--max-steps", "4000");
        assertEquals("run-7", s.modelName());
        assertEquals(6, s.model().layers());
        assertEquals(128, s.model().contextLength());
        assertEquals(0.1f, s.model().dropout());
        assertEquals(32, s.batchSize());
        assertEquals(8, s.microBatchSize());
        assertEquals(6e-4f, s.schedule().maxLr());
        assertEquals(6e-5f, s.schedule().minLr());
        assertEquals(100, s.schedule().warmupSteps());
        assertEquals(4000, s.schedule().decaySteps());
        assertEquals(new millrace.model.AdamW.Settings(0.85f, 0.99f, 1e-8f, 0.05f), s.adam());
        assertEquals(0.5f, s.clipNorm());
        assertEquals(7, s.seed());
        assertEquals(TrainSettings.Precision.FP16, s.precision());
        assertEquals(TrainSettings.Precision.BF16, parse("--precision", "BF16").precision());
        assertEquals("cpu", s.device());
        assertEquals(25, s.evalEverySteps());
        assertEquals(30, s.checkpointEverySeconds());
        assertEquals(5, s.keepCheckpoints());
        assertEquals(4000, s.maxSteps());
    }

    @Test
    void defaultsAreTheLaptopDemo() {
        TrainSettings s = parse();
        TrainSettings demo = TrainSettings.tinyDemo("r50k", 50257, 64);
        assertEquals(demo.model(), s.model());
        assertEquals(demo.schedule(), s.schedule());
        assertEquals(demo.adam(), s.adam());
        assertEquals(demo.seed(), s.seed());
        assertEquals(0, s.maxSteps());
    }

    @Test
    void nonsenseIsRefusedWithTheReason() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--lr", "1e-4", "--min-lr", "1e-3"))
                .getMessage().contains("--min-lr"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--warmup-steps", "500", "--decay-steps", "100"))
                .getMessage().contains("--warmup-steps"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--beta2", "1"))
                .getMessage().contains("--beta2"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--dropout", "1"))
                .getMessage().contains("dropout"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--micro-batch-size", "9", "--batch-size", "8"))
                .getMessage().contains("micro-batch"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parse("--model", "gpt5"))
                .getMessage().contains("gpt5"));
        assertThrows(CommandLine.ParameterException.class, () -> parse("--precision", "FP8"));
    }
}
