package millrace.cli;

import millrace.model.ModelConfig;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import millrace.model.DecodeBatch;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.model.CheckpointFormat;
import millrace.model.HuggingFace;
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

    @Option(names = "--threads", description = "libtorch threads on both sides (default: every core).")
    Integer threadCount;

    @Option(names = "--json", description = "End with one JSON line.")
    boolean json;

    private static final int[] BATCHES = {1, 8};

    /** Eight requests of different lengths that arrive together: what the web role batches (continuous batching). */
    private static final String[] CONCURRENT = {
        "And God said, Let there be light: and there was light.",
        "In the beginning",
        "And the evening and the morning were the third day.",
        "And God called the firmament Heaven. And the evening and the morning were the second day. And God said, Let the waters",
        "Blessed are the meek:",
        "The LORD is my shepherd; I shall not want. He maketh me to lie down in green pastures",
        "Thou shalt not",
        "And the earth was without form, and void; and darkness was upon the face of the deep."};

    /** Greedy answers of a set length: no token ends them early. */
    private static final int[] NO_STOP = {};

    @Override
    public Integer call() throws Exception {
        ByteLevelBpe tokenizer = Vocabularies.builtin("r50k");
        int[] prompt = tokenizer.encode("In the beginning God created the heaven and the earth. And the earth was");
        int[][] concurrent = Arrays.stream(CONCURRENT).map(tokenizer::encode).toArray(int[][]::new);
        int threads = threadCount != null ? threadCount : Runtime.getRuntime().availableProcessors();
        Engine.getEngine("PyTorch").setRandomSeed(1); // the engine is loaded before its thread count is set
        ai.djl.pytorch.jni.JniUtils.setNumThreads(threads); // the peer gets the same (torch.set_num_threads)
        Path dir = Files.createTempDirectory("millrace-bench-generate-");
        ObjectNode result = JsonSerde.MAPPER.createObjectNode().put("model", model).put("new_tokens", newTokens)
                .put("prompt_tokens", prompt.length).put("threads", ai.djl.pytorch.jni.JniUtils.getNumThreads());
        try (NDManager root = NDManager.newBaseManager(ai.djl.Device.cpu(), "PyTorch")) {
            ModelConfig config = ModelConfig.preset(model, tokenizer.vocabSize(), 1024);
            try (LanguageModel written = LanguageModel.initialize(config, root)) {
                HuggingFace.export(written, CheckpointFormat.TokenizerFiles.written(tokenizer, false), tokenizer.endOfText(),
                        tokenizer.endOfText(), dir.resolve("hf"));
                try (var out = Files.newOutputStream(dir.resolve("model.safetensors"))) {
                    written.save(out);
                }
            }
            // loaded as a served model is: the weights read from disk into a running process, then the first request
            try (LanguageModel gpt = LanguageModel.load(config, root, dir.resolve("model.safetensors"))) {
                // cold is the process's first request after the weights are loaded: batch 1's; later batches' is null
                boolean first = true;
                for (int batch : BATCHES) {
                    long[] seeds = new long[batch];
                    // cold: the process's first request after the weights are loaded; warm: the same shape again
                    double firstCall = timeMillis(gpt, prompt, seeds, 1);
                    Double cold = first ? firstCall : null;
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
                int[][] answers = new int[concurrent.length][]; // the batch's greedy tokens, for the peer's
                concurrentMillis(gpt, concurrent, 2, answers); // warm
                double together = Double.MAX_VALUE;
                double alone = Double.MAX_VALUE;
                for (int r = 0; r < rounds; r++) {
                    together = Math.min(together, concurrentMillis(gpt, concurrent, newTokens, answers));
                    alone = Math.min(alone, concurrentMillis(gpt, concurrent, newTokens, null));
                }
                double tokens = concurrent.length * newTokens;
                ObjectNode c = result.putObject("concurrent_8");
                c.put("prompt_tokens", Arrays.stream(concurrent).mapToInt(p -> p.length).mapToObj(Integer::toString)
                        .collect(Collectors.joining(",")));
                c.put("millrace_tokens_per_s", tokens / (together / 1000));
                c.put("millrace_one_at_a_time_tokens_per_s", tokens / (alone / 1000));
                ArrayNode greedy = c.putArray("millrace_tokens");
                for (int[] answer : answers) {
                    ArrayNode row = greedy.addArray();
                    for (int t : answer) row.add(t);
                }
                System.out.printf("Millrace, 8 requests of %s prompt tokens arriving together: %.0f tokens/s as one batch, "
                        + "%.0f one at a time%n", c.get("prompt_tokens").asText(), tokens / (together / 1000), tokens / (alone / 1000));
            }
            double peakRss = BenchSupport.peakRssMb();
            result.put("millrace_peak_rss_mb", peakRss);
            System.out.printf("Millrace peak RSS %.0f MB (the JVM, libtorch and the model)%n", peakRss);
            // the peer eager and compiled, each in a process of its own (so each has its own cold first token)
            List<JsonNode> peers = new ArrayList<>();
            for (boolean compiled : new boolean[] {false, true}) {
                JsonNode peer = peer(dir.resolve("hf"), prompt, concurrent, threads, compiled);
                if (peer == null) continue;
                peers.add(peer);
                result.withArray("peers").addObject().put("peer", peer.get("peer").asText())
                        .put("threads", peer.get("threads").asInt()).put("peak_rss_mb", peer.get("peak_rss_mb").asDouble());
                System.out.printf("%s (%d threads): peak RSS %.0f MB (Python, torch and the model)%n", peer.get("peer").asText(),
                        peer.get("threads").asInt(), peer.get("peak_rss_mb").asDouble());
            }
            for (String scenario : new String[] {"batch_1", "batch_8", "concurrent_8"}) {
                ObjectNode ours = (ObjectNode) result.get(scenario);
                double mine = ours.get("millrace_tokens_per_s").asDouble();
                JsonNode fastest = null;
                for (JsonNode peer : peers) {
                    JsonNode p = peer.get(scenario);
                    ours.withObject("peers").put(peer.get("peer").asText(), p.get("tokens_per_s").asDouble());
                    System.out.printf("  %s, %s: %.0f tokens/s%s -> Millrace %.2fx%n", scenario, peer.get("peer").asText(),
                            p.get("tokens_per_s").asDouble(), p.has("first_token_ms") ? String.format(", first token %.0f ms warm%s",
                                    p.get("first_token_ms").get("warm").asDouble(), p.get("first_token_ms").get("cold").isNull() ? ""
                                            : String.format(", %.0f ms cold", p.get("first_token_ms").get("cold").asDouble())) : "",
                            mine / p.get("tokens_per_s").asDouble());
                    if (fastest == null || p.get("tokens_per_s").asDouble() > fastest.get(scenario).get("tokens_per_s").asDouble()) {
                        fastest = peer;
                    }
                }
                if (fastest == null) continue;
                JsonNode p = fastest.get(scenario);
                ours.put("peer", fastest.get("peer").asText()).put("peer_tokens_per_s", p.get("tokens_per_s").asDouble())
                        .put("ratio", mine / p.get("tokens_per_s").asDouble());
                if (p.has("first_token_ms")) ours.set("peer_first_token_ms", p.get("first_token_ms"));
                if (p.has("tokens")) {
                    // greedy on the same weights: the same tokens, but where two logits are within rounding of each other
                    int same = 0;
                    for (int r = 0; r < CONCURRENT.length; r++) {
                        if (ours.get("millrace_tokens").get(r).equals(p.get("tokens").get(r))) same++;
                    }
                    ours.put("rows_with_the_peers_tokens", same);
                }
                System.out.printf("%s: Millrace %.0f tokens/s, %.2fx the fastest peer (%s)%s%n", scenario, mine,
                        mine / p.get("tokens_per_s").asDouble(), fastest.get("peer").asText(),
                        p.has("tokens") ? String.format("; the same greedy tokens as it in %d of 8 rows",
                                ours.get("rows_with_the_peers_tokens").asInt()) : "");
            }
            ((ObjectNode) result.get("concurrent_8")).remove("millrace_tokens");
        } finally {
            CheckpointStore.deleteTree(dir);
        }
        if (json) System.out.println(JsonSerde.MAPPER.writeValueAsString(result));
        return 0;
    }

    /** One greedy generation of {@code n} tokens per row, every row made to produce all of them. */
    private static double timeMillis(LanguageModel gpt, int[] prompt, long[] seeds, int n) {
        long start = System.nanoTime();
        int[][] out = Sampler.generate(gpt, prompt, seeds, new Sampler.Settings(n, 0f, 0, 0L), NO_STOP, (row, token) -> { },
                () -> false);
        double ms = (System.nanoTime() - start) / 1e6;
        if (out[0].length != n) throw new IllegalStateException("generated " + out[0].length + " tokens, not " + n);
        return ms;
    }

    /**
     * Greedy answers of {@code n} tokens to every prompt: as one continuous batch (each request joining with its own
     * prompt run, as the web role does), their tokens then put in {@code answers}; or, with {@code answers} null, one
     * request after another.
     */
    private static double concurrentMillis(LanguageModel gpt, int[][] prompts, int n, int[][] answers) {
        Sampler.Settings settings = new Sampler.Settings(n, 0f, 0, 0L);
        long start = System.nanoTime();
        if (answers != null) {
            List<DecodeBatch.Request> requests = new ArrayList<>();
            try (DecodeBatch batch = new DecodeBatch(gpt)) {
                for (int[] p : prompts) requests.add(batch.add(p, new long[] {0}, settings, NO_STOP, (row, token) -> { }, () -> false));
                while (!batch.isEmpty()) batch.step();
            }
            for (int i = 0; i < prompts.length; i++) answers[i] = requests.get(i).answers()[0];
        } else {
            for (int[] p : prompts) Sampler.generate(gpt, p, new long[] {0}, settings, NO_STOP, (row, token) -> { }, () -> false);
        }
        return (System.nanoTime() - start) / 1e6;
    }

    private JsonNode peer(Path hf, int[] prompt, int[][] concurrent, int threads, boolean compiled) throws Exception {
        String py = python.equals("none") ? null : python.equals("auto") ? BenchSupport.pythonEnvironment() : python;
        if (py == null) return null;
        List<String> command = new ArrayList<>(List.of(py, BenchSupport.repoFile("bench/generate_hf.py").toString(),
                "--model", hf.toString(),
                "--prompt", Arrays.stream(prompt).mapToObj(Integer::toString).collect(Collectors.joining(",")),
                "--concurrent", Arrays.stream(concurrent).map(ids -> Arrays.stream(ids).mapToObj(Integer::toString)
                        .collect(Collectors.joining(","))).collect(Collectors.joining(";")),
                "--new", Integer.toString(newTokens), "--threads", Integer.toString(threads),
                "--rounds", Integer.toString(rounds)));
        if (compiled) command.add("--compile");
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (p.waitFor() != 0) {
            System.err.println("transformers peer" + (compiled ? ", compiled," : "") + " failed (exit " + p.exitValue() + ")");
            return null;
        }
        return JsonSerde.MAPPER.readTree(out.lines().reduce((a, b) -> b).orElse("{}"));
    }
}
