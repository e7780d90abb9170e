package millrace.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Finds a tokenizer by what a user or a config names: a published vocabulary, or a file. */
public final class Tokenizers {
    private Tokenizers() {}

    /**
     * {@code r50k}/{@code r50k_base}/{@code gpt2}, {@code cl100k}, {@code o200k}, or the path of a
     * {@code tokenizer.json} or {@code .tiktoken} file.
     */
    public static ByteLevelBpe load(String nameOrPath) {
        Path path = Path.of(nameOrPath);
        if (Files.isRegularFile(path)) {
            try {
                return Vocabularies.read(path);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read tokenizer " + path, e);
            }
        }
        try {
            return Vocabularies.builtin(nameOrPath);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("no tokenizer '" + nameOrPath
                    + "': neither a file nor one of r50k, cl100k, o200k");
        }
    }
}
