package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import millrace.cli.Main;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.BpeTrainer;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;
import millrace.tokenizer.Pretokenizer;
import millrace.tokenizer.Vocabularies;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code millrace import --hf} on directories that are not what they claim: each is refused with one line naming the
 * file and what is wrong, and nothing is left in the data directory. A good one imports with its chat template.
 */
class HuggingFaceImportTest {
    @TempDir
    static Path dir;

    private static Path good;
    private static ByteLevelBpe tokenizer;

    /** A Llama-family directory as Millrace exports it, with a chat template. */
    @BeforeAll
    static void goodDirectory() throws Exception {
        BpeTrainer trainer = new BpeTrainer(Pretokenizer.GPT2);
        trainer.add(Files.readString(millrace.ExternalTools.repo().resolve("corpus/kjv/65-Jude.txt")));
        tokenizer = ChatTemplate.withMarkers(trainer.train("jude", 300, 2, List.of("<|endoftext|>")));
        good = dir.resolve("good");
        // Qwen3's shape with every option it has: grouped heads, a wide head, q/k norms, attention biases, an untied head
        var config = new LlamaConfig(LlamaConfig.Variant.QWEN3, 2, 32, 4, 2, 12, 48, tokenizer.vocabSize(), 16, 10_000,
                new LlamaConfig.RopeScaling(4, 1, 4, 8), 1e-5, true, true, false, true, false, 0f);
        try (NDManager root = ModelTrainer.newRootManager(); LanguageModel model = LanguageModel.initialize(config, root)) {
            HuggingFace.export(model, CheckpointFormat.TokenizerFiles.written(tokenizer, true), null,
                    tokenizer.specials().get(ChatTemplate.END), good);
        }
    }

    /** A copy of the good directory changed by {@code change}. */
    private static Path variant(String name, Consumer<Path> change) throws Exception {
        Path out = dir.resolve(name);
        Files.createDirectories(out);
        try (Stream<Path> files = Files.list(good)) {
            for (Path f : files.toList()) Files.copy(f, out.resolve(f.getFileName()));
        }
        change.accept(out);
        return out;
    }

    private static void editConfig(Path hf, Consumer<ObjectNode> edit) {
        try {
            ObjectNode config = (ObjectNode) JsonSerde.MAPPER.readTree(hf.resolve("config.json").toFile());
            edit.accept(config);
            JsonSerde.MAPPER.writeValue(hf.resolve("config.json").toFile(), config);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Runs {@code import}; its exit code and what it printed on standard error. */
    private static String refused(Path hf, String... expected) throws Exception {
        Path data = dir.resolve("data-" + hf.getFileName());
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        int code = cl.execute("import", "--hf", hf.toString(), "--data-dir", data.toString(), "--model-name", "m");
        String message = err.toString().strip();
        assertEquals(1, code, message);
        assertEquals(1, message.lines().count(), "one line: " + message);
        for (String e : expected) assertTrue(message.contains(e), "'" + e + "' in: " + message);
        Path checkpoints = data.resolve("checkpoints/m");
        if (Files.isDirectory(checkpoints)) {
            try (Stream<Path> s = Files.list(checkpoints)) {
                assertEquals(List.of(), s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("step-") || n.startsWith(".writing")).toList(),
                        "nothing half-written");
            }
        }
        return message;
    }

    @Test
    void anArchitectureThatIsNotSupportedIsNamedWithThoseThatAre() throws Exception {
        refused(variant("mistral", hf -> editConfig(hf, c -> c.put("model_type", "mistral"))),
                "config.json", "model_type 'mistral' is not supported", "llama (LlamaForCausalLM)", "qwen3 (Qwen3ForCausalLM)");
        refused(variant("yarn", hf -> editConfig(hf, c -> c.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4))),
                "config.json", "rope type 'yarn' is not supported");
        refused(variant("gelu", hf -> editConfig(hf, c -> c.put("hidden_act", "gelu"))), "config.json", "hidden_act gelu");
        refused(variant("no-width", hf -> editConfig(hf, c -> c.remove("hidden_size"))), "config.json", "no integer hidden_size");
    }

    @Test
    void aMissingOrForeignTokenizerIsRefused() throws Exception {
        refused(variant("no-tokenizer", hf -> delete(hf.resolve("tokenizer.json"))), "no tokenizer.json");
        refused(variant("foreign-tokenizer", hf -> editConfig(hf, c -> c.put("vocab_size", 100))), "tokenizer.json",
                "ids up to " + (tokenizer.vocabSize() - 1), "vocab_size is 100");
    }

    @Test
    void weightsThatDoNotMatchTheConfigAreRefusedByTensor() throws Exception {
        // hidden_size moved: the embedding's shape no longer fits
        refused(variant("shape", hf -> editConfig(hf, c -> c.put("intermediate_size", 50))), "model.safetensors",
                "mlp.gate_proj.weight has shape (48, 32), the config wants (50, 32)");
        refused(variant("truncated", hf -> truncate(hf.resolve("model.safetensors"))), "model.safetensors", "truncated");
        refused(variant("no-weights", hf -> delete(hf.resolve("model.safetensors"))), "no model.safetensors");
    }

    @Test
    void aChatTemplateThatRaisesIsRefused() throws Exception {
        refused(variant("raising-template", hf -> {
            try {
                ObjectNode c = (ObjectNode) JsonSerde.MAPPER.readTree(hf.resolve("tokenizer_config.json").toFile());
                c.put("chat_template", "{{ raise_exception('Conversation roles must alternate') }}");
                JsonSerde.MAPPER.writeValue(hf.resolve("tokenizer_config.json").toFile(), c);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }), "tokenizer_config.json", "chat_template", "Conversation roles must alternate");
    }

    @Test
    void aGoodDirectoryImportsWithItsTemplateAndHalfPrecisionsConvertExactly() throws Exception {
        Path data = dir.resolve("data-good");
        assertEquals(0, Main.commandLine().execute("import", "--hf", good.toString(), "--data-dir", data.toString(),
                "--model-name", "m"));
        Path checkpoint = data.resolve("checkpoints/m/step-000000000");
        assertEquals(HuggingFace.readConfig(good), CheckpointFormat.readMeta(checkpoint).config());
        assertEquals(ChatTemplate.JINJA, Vocabularies.chatTemplate(checkpoint.resolve(CheckpointFormat.TOKENIZER_CONFIG)).orElseThrow());
        // bf16 and fp16 as a float's upper half and IEEE half: known values
        assertEquals(1.0f, Safetensors.halfToFloat((short) 0x3C00));
        assertEquals(-2.5f, Safetensors.halfToFloat((short) 0xC100));
        assertEquals(0x1p-24f, Safetensors.halfToFloat((short) 0x0001), "subnormal");
        assertEquals(Float.POSITIVE_INFINITY, Safetensors.halfToFloat((short) 0x7C00));
        assertEquals(65504f, Safetensors.halfToFloat((short) 0x7BFF));
        assertEquals(2, Main.commandLine().execute("import"), "--hf is required");
        assertEquals(1, Main.commandLine().execute("import", "--hf", good.toString(), "--data-dir", data.toString(),
                "--model-name", "m"), "a model name that has checkpoints already");
    }

    /** A config its Hugging Face class cannot hold is refused at export, not written as another model. */
    @Test
    void aConfigTheClassCannotHoldIsNotExported() throws Exception {
        try (NDManager root = ModelTrainer.newRootManager();
                LanguageModel model = LanguageModel.initialize(TinyModels.llama(tokenizer.vocabSize(), 16), root)) {
            Exception e = assertThrows(IllegalArgumentException.class, () -> HuggingFace.export(model,
                    CheckpointFormat.TokenizerFiles.written(tokenizer, false), null, null, dir.resolve("mlp-biases")));
            assertTrue(e.getMessage().startsWith("Qwen3ForCausalLM cannot hold MLP biases"), e.getMessage());
        }
    }

    private static void delete(Path p) {
        try {
            Files.delete(p);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void truncate(Path p) {
        try (var channel = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.WRITE)) {
            channel.truncate(channel.size() - 100);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
