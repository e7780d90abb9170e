package millrace.web;

import io.vertx.core.json.JsonObject;
import millrace.model.Sampler;
import millrace.protocol.InvalidPayloadException;

/** The prompt and sampling fields shared by {@code /api/generate} and {@code /api/compare}, each checked and bounded. */
record SamplingForm(String prompt, Sampler.Settings settings, boolean stream, Boolean chat) {
    static final int MAX_PROMPT_CHARS = 4000;
    static final int MAX_NEW_TOKENS = 512;

    private static final java.util.Set<String> FIELDS = java.util.Set.of("prompt", "maxTokens", "temperature", "topK",
            "topP", "seed", "stream", "chat");

    static SamplingForm parse(JsonObject body) {
        for (String field : body.fieldNames()) {
            if (!FIELDS.contains(field)) throw new InvalidPayloadException(field, "unknown field (fields: " + FIELDS + ")");
        }
        if (!(body.getValue("prompt") instanceof String prompt)) throw new InvalidPayloadException("prompt", "a string is required");
        if (prompt.length() > MAX_PROMPT_CHARS) {
            throw new InvalidPayloadException("prompt", "is longer than " + MAX_PROMPT_CHARS + " characters");
        }
        int maxTokens = integer(body, "maxTokens", 64);
        if (maxTokens < 1 || maxTokens > MAX_NEW_TOKENS) throw new InvalidPayloadException("maxTokens", "must be 1.." + MAX_NEW_TOKENS);
        double temperature = number(body, "temperature", 0.8);
        if (!(temperature >= 0 && temperature <= 5)) throw new InvalidPayloadException("temperature", "must be within [0, 5]");
        int topK = integer(body, "topK", 40);
        if (topK < 0) throw new InvalidPayloadException("topK", "must be >= 0 (0: no cut)");
        double topP = number(body, "topP", 1.0);
        if (!(topP > 0 && topP <= 1)) throw new InvalidPayloadException("topP", "must be within (0, 1]");
        Object seed = body.getValue("seed");
        if (seed != null && !(seed instanceof Integer || seed instanceof Long)) {
            throw new InvalidPayloadException("seed", "must be an integer");
        }
        Object stream = body.getValue("stream");
        if (stream != null && !(stream instanceof Boolean)) throw new InvalidPayloadException("stream", "must be true or false");
        Object chat = body.getValue("chat");
        if (chat != null && !(chat instanceof Boolean)) throw new InvalidPayloadException("chat", "must be true or false");
        long s = seed == null ? System.nanoTime() : ((Number) seed).longValue();
        return new SamplingForm(prompt, new Sampler.Settings(maxTokens, (float) temperature, topK, (float) topP, s),
                Boolean.TRUE.equals(stream), (Boolean) chat);
    }

    private static int integer(JsonObject body, String field, int fallback) {
        Object v = body.getValue(field);
        if (v == null) return fallback;
        if (!(v instanceof Integer i)) throw new InvalidPayloadException(field, "must be an integer");
        return i;
    }

    private static double number(JsonObject body, String field, double fallback) {
        Object v = body.getValue(field);
        if (v == null) return fallback;
        if (!(v instanceof Number n)) throw new InvalidPayloadException(field, "must be a number");
        return n.doubleValue();
    }
}
