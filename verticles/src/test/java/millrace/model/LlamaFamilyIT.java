package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import millrace.PythonReference;
import millrace.cli.Main;
import millrace.protocol.JsonSerde;
import millrace.train.ModelTrainer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The Llama family against transformers: models that transformers builds with random weights at small sizes of the
 * real configs ({@code bench/llama_reference.py}: SmolLM2's grouped heads and tied embeddings, Qwen2.5's q/k/v biases
 * stored in fp16, Qwen3's q/k norms and wide heads, Llama 3.2's llama3 rope scaling stored in bf16 shards) are
 * imported with {@code millrace import}; their logits match transformers' to 1e-4 at every position — the one-call
 * TorchScript pass, the pass through DJL, and generation's prompt and decode steps with a key/value cache; and
 * {@code millrace export} writes a directory transformers' {@code from_pretrained} loads with the same logits.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LlamaFamilyIT {
    private static final List<String> CASES = List.of("smollm2", "qwen2", "qwen3", "llama32");
    private static final float TOLERANCE = 1e-4f;

    @TempDir
    static Path dir;

    private final Map<String, String> report = new TreeMap<>();

    @BeforeAll
    void buildReferences() throws Exception {
        PythonReference.run(PythonReference.script("llama_reference.py"), "make", dir.resolve("hf").toString());
    }

    @AfterAll
    void printReport() {
        System.err.println("largest |Millrace - transformers| logit difference, fp32:");
        report.forEach((k, v) -> System.err.println("  " + k + ": " + v));
    }

    @Test
    void importedModelsGiveTransformersLogitsAndExportsLoadBackInTransformers() throws Exception {
        List<String> exported = new ArrayList<>();
        for (String name : CASES) {
            Path hf = dir.resolve("hf").resolve(name);
            int[] ids = JsonSerde.MAPPER.readValue(hf.resolve("ids.json").toFile(), int[].class);
            float[][] reference = readLogits(hf.resolve("logits.f32"), ids.length);
            String data = dir.resolve("data-" + name).toString();
            assertEquals(0, new CommandLine(new Main()).execute("import", "--hf", hf.toString(), "--data-dir", data,
                    "--model-name", name));
            Path checkpoint = Path.of(data, "checkpoints", name, "step-000000000");
            assertEquals(HuggingFace.readConfig(hf), CheckpointFormat.readMeta(checkpoint).config());
            try (NDManager root = ModelTrainer.newRootManager(); LanguageModel model = CheckpointFormat.loadModel(checkpoint, root)) {
                check(name + " one call", reference, wholePass(model, ids, root));
                check(name + " prompt + decode steps", reference, cachedPasses(model, ids, 40, root));
                model.useScriptedBlocks(false);
                check(name + " through DJL", reference, wholePass(model, ids, root));
                check(name + " through DJL, cached", reference, cachedPasses(model, ids, 40, root));
            }
            Path out = dir.resolve("exported").resolve(name);
            assertEquals(0, new CommandLine(new Main()).execute("export", "--checkpoint", checkpoint.toString(), "--format",
                    "hf", "--out", out.toString()));
            assertEquals(HuggingFace.readConfig(hf), HuggingFace.readConfig(out), "the exported config.json describes the same model");
            JsonNode config = JsonSerde.MAPPER.readTree(out.resolve("config.json").toFile());
            assertEquals(JsonSerde.MAPPER.readTree(hf.resolve("config.json").toFile()).get("architectures"), config.get("architectures"));
            Files.copy(hf.resolve("ids.json"), out.resolve("ids.json"));
            exported.add(out.toString());
        }
        List<String> args = new ArrayList<>(List.of("logits"));
        args.addAll(exported);
        PythonReference.run(PythonReference.script("llama_reference.py"), args.toArray(String[]::new));
        for (String name : CASES) {
            Path hf = dir.resolve("hf").resolve(name);
            int n = JsonSerde.MAPPER.readValue(hf.resolve("ids.json").toFile(), int[].class).length;
            check(name + " exported, in transformers", readLogits(hf.resolve("logits.f32"), n),
                    readLogits(dir.resolve("exported").resolve(name).resolve("logits.f32"), n));
        }
    }

    private void check(String what, float[][] expected, float[][] actual) {
        double worst = 0;
        for (int t = 0; t < expected.length; t++) {
            assertEquals(expected[t].length, actual[t].length, what + ": vocabulary at " + t);
            for (int v = 0; v < expected[t].length; v++) worst = Math.max(worst, Math.abs(expected[t][v] - actual[t][v]));
        }
        report.put(what, String.format("%.2e", worst));
        assertTrue(worst < TOLERANCE, what + ": largest logit difference " + worst);
    }

    /** Logits at every position of one row. */
    private static float[][] wholePass(LanguageModel model, int[] ids, NDManager root) {
        try (NDManager scope = root.newSubManager()) {
            model.attachTo(scope);
            NDArray out = model.forward(scope.create(longs(ids), new Shape(1, ids.length)), false);
            return rows(out.toFloatArray(), ids.length);
        }
    }

    /**
     * The prompt's first {@code prompt} tokens into a cache (the logits of its last position), then one token per decode
     * step: the logits of positions {@code prompt - 1} on; those before are copied from {@code whole} — not compared.
     */
    private static float[][] cachedPasses(LanguageModel model, int[] ids, int prompt, NDManager root) {
        float[][] out = wholePass(model, ids, root);
        try (NDManager scope = root.newSubManager(); KvCache cache = model.newCache()) {
            model.attachTo(scope);
            long[] first = new long[prompt];
            for (int i = 0; i < prompt; i++) first[i] = ids[i];
            out[prompt - 1] = model.forwardLast(scope.create(first, new Shape(1, prompt)), cache).toFloatArray();
            for (int t = prompt; t < ids.length; t++) {
                out[t] = model.forwardLast(scope.create(new long[] {ids[t]}, new Shape(1, 1)), cache).toFloatArray();
            }
        }
        return out;
    }

    private static long[] longs(int[] ids) {
        return java.util.Arrays.stream(ids).asLongStream().toArray();
    }

    private static float[][] rows(float[] flat, int n) {
        int v = flat.length / n;
        float[][] out = new float[n][v];
        for (int t = 0; t < n; t++) System.arraycopy(flat, t * v, out[t], 0, v);
        return out;
    }

    private static float[][] readLogits(Path file, int n) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[] flat = new float[b.remaining() / 4];
        b.asFloatBuffer().get(flat);
        return rows(flat, n);
    }
}
