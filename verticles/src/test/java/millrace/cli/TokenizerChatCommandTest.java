package millrace.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import millrace.ChatTemplateReference;
import millrace.OpenTokenizers;
import millrace.protocol.JsonSerde;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ./millrace tokenizer chat} prints exactly what transformers renders, or a one-line reason. */
class TokenizerChatCommandTest {
    @TempDir
    Path temp;

    @Test
    void printsTheConversationAsTransformersRendersItOrAOneLineReason() throws Exception {
        Path qwen3 = OpenTokenizers.qwen3();
        List<Map<String, String>> messages = List.of(Map.of("role", "system", "content", "Be brief."),
                Map.of("role", "user", "content", "2+2?"),
                Map.of("role", "assistant", "content", "<think>\nAdd.\n</think>\n\n4"),
                Map.of("role", "user", "content", "Merci — 日本語?\n"));
        Path file = temp.resolve("messages.json");
        JsonSerde.MAPPER.writeValue(file.toFile(), messages);
        ChatTemplateReference transformers = new ChatTemplateReference();
        transformers.withTokenizer(qwen3, null, messages, true).putObject("kwargs").put("enable_thinking", false);
        String expected = transformers.render().get(0).get("text").asText();

        Run ok = run("tokenizer", "chat", "--tokenizer", qwen3.toString(), "--messages", file.toString(), "--generation-prompt",
                "--var", "enable_thinking=false");
        assertEquals(0, ok.exit(), ok.err());
        assertEquals(expected, ok.out(), "the text and nothing after it");
        assertTrue(expected.endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n"), expected);

        Files.writeString(file, "[{\"content\": \"no role\"}]");
        Run bad = run("tokenizer", "chat", "--tokenizer", qwen3.toString(), "--messages", file.toString());
        assertEquals(1, bad.exit());
        assertEquals("millrace: " + file + ": message 1 is not an object with a \"role\"\n", bad.err());
        assertEquals("", bad.out());
    }

    private record Run(int exit, String out, String err) {}

    private static Run run(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(stdout, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(stderr, true, StandardCharsets.UTF_8));
            int exit = Main.commandLine().execute(args);
            return new Run(exit, stdout.toString(StandardCharsets.UTF_8), stderr.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }
}
