package millrace.web;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import millrace.protocol.ChatMessage;
import millrace.protocol.JsonSerde;
import millrace.sft.TinyChatModel;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model fine-tuned with {@code ./millrace sft}, served by the web role: the API and the arena ask it in turns (its
 * own format) and it answers what it learned, ending its turn; the page offers chat for it, and in Chromium the
 * question gets the learned answer.
 */
class ChatIT {
    @TempDir
    static Path dir;

    static WebFixture web;
    static ByteLevelBpe tokenizer;

    @BeforeAll
    static void start() throws Exception {
        tokenizer = TinyChatModel.tokenizer();
        Path base = TinyChatModel.base(dir.resolve("pretrained/checkpoints"), tokenizer);
        Path chat = TinyChatModel.fineTune(base, dir.resolve("data"), "millrace", line -> { });
        web = new WebFixture(dir, new WebSettings("millrace", 4, 30_000, 8, 2, 30, 5, 10, 2000, 3_600_000), chat);
    }

    @AfterAll
    static void stop() {
        if (web != null) web.close();
    }

    private static JsonNode generate(String body) throws Exception {
        HttpResponse<String> r = web.postJson("/api/generate", null, body);
        assertEquals(200, r.statusCode(), r.body());
        return JsonSerde.MAPPER.readTree(r.body());
    }

    @Test
    void aChatModelAnswersInTurnsUnlessAskedToContinueText() throws Exception {
        JsonNode policy = JsonSerde.MAPPER.readTree(web.get("/api/policy", null).body());
        assertTrue(policy.path("serving").path("chat").asBoolean(), policy.toString());

        JsonNode answer = generate("{\"prompt\":\"Who wrote the letter?\",\"temperature\":0,\"maxTokens\":48}");
        assertEquals("Jude, the servant of Jesus Christ.", answer.get("text").asText());
        assertTrue(answer.get("finished").asBoolean(), "ended its turn");
        int[] turn = ChatTemplate.chatMl(tokenizer).render(List.of(new ChatMessage("user", "Who wrote the letter?")), true).ids();
        assertEquals(turn.length, answer.get("promptTokens").asInt(), "the prompt went in as a user's turn");

        JsonNode text = generate("{\"prompt\":\"Who wrote the letter?\",\"temperature\":0,\"maxTokens\":8,\"chat\":false}");
        assertEquals(tokenizer.encode("Who wrote the letter?").length, text.get("promptTokens").asInt(), "a continuation");
    }

    @Test
    void theArenaComparesInTheModelsOwnFormat() throws Exception {
        String token = web.rater("ann");
        HttpResponse<String> r = web.postJson("/api/compare", token, "{\"prompt\":\"To whom was it written?\",\"temperature\":0,\"maxTokens\":48}");
        assertEquals(200, r.statusCode(), r.body());
        for (JsonNode a : JsonSerde.MAPPER.readTree(r.body()).get("answers")) {
            assertEquals("To them that are sanctified by God the Father.", a.get("text").asText());
            assertTrue(a.get("finished").asBoolean());
        }
        HttpResponse<String> asText = web.postJson("/api/compare", token, "{\"prompt\":\"x\",\"chat\":false}");
        assertEquals(400, asText.statusCode(), "ratings train the model's own format: " + asText.body());
        assertEquals("chat", JsonSerde.MAPPER.readTree(asText.body()).get("field").asText());
    }

    @Test
    void thePageOffersChatAndShowsTheLearnedAnswer() throws Exception {
        if (!PageInChromium.available()) return;
        String shown = PageInChromium.chat(web.base, "What is wished them?");
        assertEquals("What is wished them?\n\nMercy unto you, and peace, and love, be multiplied.", shown);
    }
}
