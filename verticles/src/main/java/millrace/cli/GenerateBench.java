package millrace.cli;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import millrace.model.Gpt;
import millrace.model.GptConfig;
import millrace.model.HuggingFaceGpt2;
import millrace.model.Sampler;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Vocabularies;
import millrace.train.CheckpointStore;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench generate}: greedy decoding with a KV cache, Millrace's batched sampler (the one the arena uses for its
 * two answers) against Hugging Face transformers' {@code generate} on the same model, exported, the same prompt ids and
 * the same thread count, at batch 1 and batch 8: tokens/s, and the time to the first token, warm and cold (the first
 * request after the weights are loaded into a running process).
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Greedy decoding tokens/s at batch 1 and 8 and time to first token (warm, cold), Millrace against "
                + "transformers' generate (bench/generate_hf.py) on the same exported model, prompt and threads.")
final class GenerateBench implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "small", description = "Preset, randomly initialised (default: ${DEFAULT-VALUE}); the weights do not change the speed.")
    String model;

    @Option(names = "--new-tokens", defaultValue = "64", description = "Tokens generated per row (default: ${DEFAULT-VALUE}).")
    int newTokens;

    @Option(names = "--rounds", defaultValue = "3", description = "Timed rounds, best kept (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--python", defaultValue = "auto", description = "Python with transformers (default: ${DEFAULT-VALUE}: bench/python-env.sh's; none: no peer).")
    String python;

    @Option(names = "--json", description = "End with one JSON line.")
    boolean json;

    private static final int[] BATCHES = {1, 8};

    @Override
    public Integer call() throws Exception {
        ByteLevelBpe tokenizer = Vocabularies.builtin("r50k");
        int[] prompt = tokenizer.encode("In the beginning God created the heaven and the earth. And the earth was");
        int threads = Runtime.getRuntime().availableProcessors();
        Engine.getEngine("PyTorch").setRandomSeed(1); // the engine is loaded before its thread count is set
        ai.djl.pytorch.jni.JniUtils.setNumThreads(threads); // the peer gets the same (torch.set_num_threads)
        Path dir = Files.createTempDirectory("millrace-bench-generate-");
        ObjectNode result = JsonSerde.MAPPER.createObjectNode().put("model", model).put("new_tokens", newTokens)
                .put("prompt_tokens", prompt.length).put("threads", ai.djl.pytorch.jni.JniUtils.getNumThreads());
        try (NDManager root = NDManager.newBaseManager(ai.djl.Device.cpu(), "PyTorch")) {
            GptConfig config = GptConfig.preset(model, tokenizer.vocabSize(), 1024);
            try (Gpt written = Gpt.initialize(config, root)) {
                HuggingFaceGpt2.export(written, tokenizer, false, dir.resolve("hf"));
                try (var out = Files.newOutputStream(dir.resolve("model.safetensors"))) {
                    written.save(out);
                }
            }
            // loaded as a served model is: the weights read from disk into a running process, then the first request
            try (Gpt gpt = Gpt.load(config, root, dir.resolve("model.safetensors"))) {
                // cold is the process's first request after the weights are loaded: batch 1's; later batches' is null
                boolean first = true;
                for (int batch : BATCHES) {
                    long[] seeds = new long[batch];
                    Double cold = first ? timeMillis(gpt, prompt, seeds, 1) : null;
                    first = false;
                    double warm = timeMillis(gpt, prompt, seeds, 1);
                    double best = 0;
                    for (int r = 0; r < rounds; r++) best = Math.max(best, batch * newTokens / (timeMillis(gpt, prompt, seeds, newTokens) / 1000));
                    ObjectNode b = result.putObject("batch_" + batch);
                    b.put("millrace_tokens_per_s", best);
                    b.putObject("first_token_ms").put("warm", warm).put("cold", cold);
                    System.out.printf("Millrace, batch %d: %.0f tokens/s, first token %.0f ms warm%s%n", batch, best, warm,
                            cold == null ? "" : String.format(", %.0f ms cold", cold));
                }
            }
            double peakRss = BenchSupport.peakRssMb();
            result.put("millrace_peak_rss_mb", peakRss);
            System.out.printf("Millrace peak RSS %.0f MB (the JVM, libtorch and the model)%n", peakRss);
            JsonNode peer = peer(dir.resolve("hf"), prompt, threads);
            if (peer != null) {
                result.put("peer", peer.get("peer").asText()).put("peer_peak_rss_mb", peer.get("peak_rss_mb").asDouble());
                System.out.printf("%s peak RSS %.0f MB (Python, torch and the model)%n", peer.get("peer").asText(),
                        peer.get("peak_rss_mb").asDouble());
                for (int batch : BATCHES) {
                    JsonNode p = peer.get("batch_" + batch);
                    ObjectNode b = (ObjectNode) result.get("batch_" + batch);
                    double ours = b.get("millrace_tokens_per_s").asDouble();
                    double theirs = p.get("tokens_per_s").asDouble();
                    b.put("peer_tokens_per_s", theirs).put("ratio", ours / theirs);
                    b.set("peer_first_token_ms", p.get("first_token_ms"));
                    JsonNode peerCold = p.get("first_token_ms").get("cold");
                    System.out.printf("%s (%d threads), batch %d: %.0f tokens/s, first token %.0f ms warm%s -> Millrace %.2fx%n",
                            peer.get("peer").asText(), peer.get("threads").asInt(), batch, theirs,
                            p.get("first_token_ms").get("warm").asDouble(),
                            peerCold.isNull() ? "" : String.format(", %.0f ms cold", peerCold.asDouble()), ours / theirs);
                }
            }
        } finally {
            CheckpointStore.deleteTree(dir);
        }
        if (json) System.out.println(JsonSerde.MAPPER.writeValueAsString(result));
        return 0;
    }

    /** One greedy generation of {@code n} tokens per row, every row made to produce all of them. */
    private static double timeMillis(Gpt gpt, int[] prompt, long[] seeds, int n) {
        long start = System.nanoTime();
        int[][] out = Sampler.generate(gpt, prompt, seeds, new Sampler.Settings(n, 0f, 0, 0L), -1, (row, token) -> { },
                () -> false);
        double ms = (System.nanoTime() - start) / 1e6;
        if (out[0].length != n) throw new IllegalStateException("generated " + out[0].length + " tokens, not " + n);
        return ms;
    }

    private JsonNode peer(Path hf, int[] prompt, int threads) throws Exception {
        String py = python.equals("none") ? null : python.equals("auto") ? BenchSupport.pythonEnvironment() : python;
        if (py == null) return null;
        Process p = new ProcessBuilder(py, BenchSupport.repoFile("bench/generate_hf.py").toString(), "--model", hf.toString(),
                "--prompt", Arrays.stream(prompt).mapToObj(Integer::toString).collect(Collectors.joining(",")),
                "--new", Integer.toString(newTokens), "--threads", Integer.toString(threads), "--rounds",
                Integer.toString(rounds)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (p.waitFor() != 0) {
            System.err.println("transformers peer failed (exit " + p.exitValue() + ")");
            return null;
        }
        return JsonSerde.MAPPER.readTree(out.lines().reduce((a, b) -> b).orElse("{}"));
    }
}
