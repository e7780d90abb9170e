package millrace.faults;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * Sends mutated requests to every route of the web role: wrong methods, paths and content types, bodies that are not
 * JSON, not UTF-8, deeply nested, too large, or valid JSON with fields missing, of the wrong type or out of range, and
 * tokens that are missing, malformed or unknown. A server that holds up answers each with a 2xx, 3xx or 4xx, or with a
 * 503 that says when to come back; never another 5xx, never a dropped connection.
 */
public final class HttpFuzzer {
    /** What came back: status classes, the 5xx that are failures, and requests whose connection failed. */
    public record Result(int sent, Map<String, Integer> byStatus, int busy, List<String> failures) {}

    private static final String[] GET_ROUTES = {"/health", "/ready", "/metrics", "/api/status", "/api/policy", "/api/me",
        "/api/ratings/export", "/", "/index.html", "/app.js", "/nope", "/api/nope"};
    private static final String[] POST_ROUTES = {"/api/generate", "/api/compare", "/api/ratings", "/api/status", "/health"};
    private static final String[] TEMPLATES = {
        "{\"prompt\":\"In the beginning\",\"maxTokens\":8,\"temperature\":0.8}",
        "{\"prompt\":\"And God said\",\"maxTokens\":4,\"chat\":false}",
        "{\"comparisonId\":\"c-1\",\"choice\":\"a\"}",
        "{\"comparisonId\":\"c-1\",\"score\":5,\"scale\":7,\"answer\":\"a\"}",
        "{\"comparisonId\":\"c-1\",\"editedAnswer\":\"better\"}"};

    private final String base;
    private final Random random;
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    public HttpFuzzer(String base, long seed) {
        this.base = base;
        this.random = new Random(seed);
    }

    public Result run(int requests) throws InterruptedException {
        Map<String, Integer> byStatus = new TreeMap<>();
        List<String> failures = new ArrayList<>();
        int busy = 0;
        for (int i = 0; i < requests; i++) {
            HttpRequest request = next();
            try {
                HttpResponse<byte[]> response = client.send(request, HttpResponse.BodyHandlers.ofByteArray());
                int code = response.statusCode();
                byStatus.merge(code / 100 + "xx", 1, Integer::sum);
                if (code == 503 && response.headers().firstValue("Retry-After").isPresent()) busy++;
                else if (code >= 500) {
                    failures.add(code + " " + request.method() + " " + request.uri().getRawPath() + ": "
                            + new String(response.body(), 0, Math.min(200, response.body().length), StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                failures.add("no answer to " + request.method() + " " + request.uri().getRawPath() + ": " + e);
            }
        }
        return new Result(requests, byStatus, busy, failures);
    }

    private HttpRequest next() {
        boolean post = random.nextInt(3) > 0;
        String path = mutatePath(post ? pick(POST_ROUTES) : pick(GET_ROUTES));
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60));
        switch (random.nextInt(5)) {
            case 0 -> { } // no token
            case 1 -> b.header("Authorization", "Bearer " + randomToken());
            case 2 -> b.header("Authorization", "Bearer ");
            case 3 -> b.header("Authorization", "Basic " + randomToken());
            default -> b.header("Authorization", "Bearer mr_" + randomToken());
        }
        if (!post) {
            String[] methods = {"GET", "GET", "GET", "DELETE", "PUT", "PATCH"};
            String m = pick(methods);
            return m.equals("GET") ? b.GET().build() : b.method(m, HttpRequest.BodyPublishers.ofString("x")).build();
        }
        String[] types = {"application/json", "application/json", "application/json; charset=utf-8", "text/plain",
            "multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded", ""};
        String type = pick(types);
        if (!type.isEmpty()) b.header("Content-Type", type);
        return b.POST(HttpRequest.BodyPublishers.ofByteArray(body(type))).build();
    }

    private String mutatePath(String path) {
        return switch (random.nextInt(12)) {
            case 0 -> path + "/../../../etc/passwd";
            case 1 -> path + "?" + "a=".repeat(1 + random.nextInt(200));
            case 2 -> path + "%00%ff%2e%2e";
            case 3 -> "/" + "x".repeat(1 + random.nextInt(4000));
            case 4 -> path.toUpperCase(java.util.Locale.ROOT);
            default -> path;
        };
    }

    private byte[] body(String type) {
        if (type.startsWith("multipart")) {
            return ("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n"
                    + "z".repeat(random.nextInt(70_000)) + "\r\n--xyz--\r\n").getBytes(StandardCharsets.UTF_8);
        }
        String json = pick(TEMPLATES);
        return switch (random.nextInt(12)) {
            case 0 -> randomBytes(random.nextInt(2000));
            case 1 -> "[".repeat(20_000).getBytes(StandardCharsets.UTF_8);
            case 2 -> ("{\"prompt\":\"" + "a".repeat(70_000) + "\"}").getBytes(StandardCharsets.UTF_8);
            case 3 -> json.substring(0, random.nextInt(json.length())).getBytes(StandardCharsets.UTF_8);
            case 4 -> json.replaceFirst("\"[a-zA-Z]+\":[^,}]+,?", "").getBytes(StandardCharsets.UTF_8);
            case 5 -> json.replaceAll(":\\s*\"[^\"]*\"", ":12345678901234567890").getBytes(StandardCharsets.UTF_8);
            case 6 -> json.replaceAll(":\\s*[0-9.]+", ":-1e309").getBytes(StandardCharsets.UTF_8);
            case 7 -> json.replaceAll(":\\s*[0-9.]+", ":\"NaN\"").getBytes(StandardCharsets.UTF_8);
            case 8 -> {
                byte[] b = json.getBytes(StandardCharsets.UTF_8);
                b[random.nextInt(b.length)] = (byte) (0x80 + random.nextInt(0x80)); // not UTF-8
                yield b;
            }
            case 9 -> "null".getBytes(StandardCharsets.UTF_8);
            case 10 -> json.replace("}", ",\"extra\":{\"deep\":[1,2,{\"x\":null}]}}").getBytes(StandardCharsets.UTF_8);
            default -> json.getBytes(StandardCharsets.UTF_8);
        };
    }

    private String randomToken() {
        StringBuilder s = new StringBuilder();
        int n = random.nextInt(80);
        for (int i = 0; i < n; i++) s.append((char) (33 + random.nextInt(94)));
        return s.toString();
    }

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private <T> T pick(T[] options) {
        return options[random.nextInt(options.length)];
    }
}
