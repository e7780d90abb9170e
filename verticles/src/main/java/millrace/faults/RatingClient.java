package millrace.faults;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import millrace.protocol.JsonSerde;

/**
 * A rater during the faults: asks the web role for a comparison, rates it, and sends the same rating again (same
 * idempotency key) until it is acknowledged with a 202, whatever is down meanwhile. A comparison the web role forgot
 * (it was restarted between the two answers and the rating) is given up: nothing was acknowledged. The ids of the
 * acknowledged ratings are what the audit checks on {@code millrace.ratings} and in the feedback role's audit.
 */
final class RatingClient implements Runnable {
    private static final String[] CHOICES = {"A", "B", "TIE", "BOTH_BAD"};

    private final String base;
    private final String token;
    private final Random random;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2)).build();
    private final Set<String> acknowledged = ConcurrentHashMap.newKeySet();
    private volatile boolean stop;
    private int n;

    RatingClient(String base, String token, long seed) {
        this.base = base;
        this.token = token;
        this.random = new Random(seed);
    }

    void stop() {
        stop = true;
    }

    Set<String> acknowledged() {
        return Set.copyOf(acknowledged);
    }

    @Override
    public void run() {
        while (!stop) {
            try {
                String comparison = compare();
                if (comparison != null) rate(comparison);
                else Thread.sleep(500);
            } catch (InterruptedException e) {
                return;
            } catch (IOException | RuntimeException e) {
                sleep(); // the web role is down or restarting
            }
        }
    }

    private String compare() throws IOException, InterruptedException {
        HttpResponse<Stream<String>> r = http.send(post("/api/compare", "{\"prompt\":\"And God said\",\"maxTokens\":6,"
                + "\"temperature\":1,\"stream\":true,\"seed\":" + random.nextInt(1_000_000) + "}"), HttpResponse.BodyHandlers.ofLines());
        try (Stream<String> lines = r.body()) {
            if (r.statusCode() != 200) return null;
            String event = null;
            for (String line : (Iterable<String>) lines::iterator) {
                if (line.startsWith("event: ")) event = line.substring(7);
                else if (line.startsWith("data: ") && "done".equals(event)) {
                    return JsonSerde.MAPPER.readTree(line.substring(6)).get("comparisonId").asText();
                }
            }
        }
        return null;
    }

    private void rate(String comparison) throws InterruptedException {
        String body = "{\"comparisonId\":\"" + comparison + "\",\"choice\":\"" + CHOICES[random.nextInt(4)]
                + "\",\"idempotencyKey\":\"faults-" + n++ + "\"}";
        while (true) { // until acknowledged, or the comparison is gone with the web process that made it
            try {
                HttpResponse<String> r = http.send(post("/api/ratings", body), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 202) {
                    JsonNode ack = JsonSerde.MAPPER.readTree(r.body());
                    acknowledged.add(ack.get("id").asText());
                    return;
                }
                if (r.statusCode() >= 400 && r.statusCode() < 500 && r.statusCode() != 429) return;
            } catch (IOException e) {
                // down: the same rating again in a moment
            }
            sleep();
            if (stop) return;
        }
    }

    private HttpRequest post(String path, String body) {
        return HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                .header("content-type", "application/json").header("authorization", "Bearer " + token)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static void sleep() {
        try {
            Thread.sleep(500);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
