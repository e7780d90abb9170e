package millrace.cli;

import millrace.model.ModelConfig;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.DataOutputStream;
import java.io.BufferedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import millrace.model.LanguageModel;
import millrace.model.Gpt2Config;
import millrace.model.HuggingFace;
import millrace.train.CheckpointStore;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.Tokenizers;
import millrace.tokenizer.TextTokenizer;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Training throughput and memory of Millrace's trainer next to today's PyTorch training the same architecture, batch,
 * sequence length, optimizer and token stream ({@code bench/train_torch.py}, in the virtual environment
 * {@code bench/python-env.sh} makes), eager and under {@code torch.compile}, on the same machine in the same run. Every
 * trainer runs at its best: its faster thread count (probed), and the allocator this process runs under (the launcher's
 * jemalloc setting is handed to the peers). The ratio is against the fastest peer; beside it, each trainer's share of
 * the machine's fp32 matrix-product rate, measured in the same run.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Tokens/s, peak RSS and final loss of N training steps of a preset against today's PyTorch, eager and "
                + "compiled (bench/train_torch.py in bench/python-env.sh's environment), same architecture, batch, tokens "
                + "and allocator, each at its best thread count; the ratio against the fastest; the share of the measured "
                + "matrix-product rate each reaches (MFU on a GPU).")
final class TrainBench implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "small", description = "Preset (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--batch-size", defaultValue = "8", description = "Rows per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seq-len", defaultValue = "64", description = "Tokens per row (default: ${DEFAULT-VALUE}).")
    int seq;

    @Option(names = "--steps", defaultValue = "1000", description = "Timed steps (default: ${DEFAULT-VALUE}; RSS is sampled every 100).")
    int steps;

    @Option(names = "--warmup", defaultValue = "5", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--python", defaultValue = "auto",
            description = "Python with torch for the peers (default: ${DEFAULT-VALUE}: the environment bench/python-env.sh makes "
                    + "on first use, today's PyTorch; 'none' skips the peers).")
    String python;

    @Option(names = "--peers", split = ",", defaultValue = "eager,compiled", description = "PyTorch modes to run (default: ${DEFAULT-VALUE}).")
    List<String> peers;

    @Option(names = "--threads", defaultValue = "0", description = "Millrace's intra-op threads (default: 0, the faster of 1 and every core, probed).")
    int threads;

    @Option(names = "--peer-threads", defaultValue = "0", description = "The peers' intra-op threads (default: 0, the faster of 1 and every core, probed per mode).")
    int peerThreads;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, gpu or auto (default: ${DEFAULT-VALUE}); the peers run on the same.")
    String device;

    @Option(names = "--precision", defaultValue = "FP32",
            description = "FP32; or FP16 (loss scaling) or BF16 on fp32 master weights (default: ${DEFAULT-VALUE}); the peers then use autocast in the same.")
    TrainSettings.Precision precision;

    enum Kernels { fused, djl, explicit }

    @Option(names = "--kernels", defaultValue = "fused",
            description = "fused: the forward pass in one TorchScript call, attention and GELU as libtorch's fused kernels; djl: "
                    + "the same kernels, an operation a DJL call; explicit: through DJL, attention and GELU written out in "
                    + "elementary ops (default: ${DEFAULT-VALUE}).")
    Kernels kernels;

    /** The trainer's losses under the names the command line takes. */
    enum LossMode {
        plain(ModelTrainer.Loss.PLAIN), inplace(ModelTrainer.Loss.IN_PLACE), linear(ModelTrainer.Loss.FUSED_LINEAR);

        final ModelTrainer.Loss loss;

        LossMode(ModelTrainer.Loss loss) {
            this.loss = loss;
        }
    }

    @Option(names = "--loss", defaultValue = "inplace",
            description = "inplace: the cross-entropy and its gradient in one pass over the logits, written over them; plain: "
                    + "log_softmax over the whole logits through autograd; linear: the output projection and the loss a "
                    + "chunk of rows at a time, gradients by hand, the logits never whole (fp32 only; otherwise inplace) "
                    + "(default: ${DEFAULT-VALUE}).")
    LossMode lossMode;

    /** The loss the step runs ({@link ModelTrainer.Loss#in}: the fused linear one is fp32 only). */
    private LossMode lossRan() {
        ModelTrainer.Loss ran = lossMode.loss.in(precision);
        return java.util.Arrays.stream(LossMode.values()).filter(m -> m.loss == ran).findFirst().orElseThrow();
    }

    @Option(names = "--phases", defaultValue = "0",
            description = "After the timed steps, N more that wait for the device at each phase's end: the median ms of the "
                    + "forward pass with the loss, backward and the update, for every trainer (default: ${DEFAULT-VALUE}, none).")
    int phases;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    /** Steps of a thread-count probe, after the warm-up. */
    private static final int PROBE_STEPS = 20;

    @Override
    public Integer call() throws Exception {
        TextTokenizer tokenizer = Tokenizers.load("r50k");
        int[] tokens = BenchSupport.kjvTokens(tokenizer); // the same stream for every trainer
        ModelConfig config = ModelConfig.preset(model, tokenizer.vocabSize(), seq);
        TrainSettings demo = TrainSettings.tinyDemo("r50k", tokenizer.vocabSize(), seq);
        TrainSettings settings = new TrainSettings("bench", config, "r50k", batch, demo.schedule(), demo.clipNorm(),
                demo.adam(), 1, 3600, 1, 0, batch, precision, device, 0);
        ai.djl.engine.Engine.getEngine("PyTorch"); // loads libtorch: thread counts are set through it
        ai.djl.Device onDevice = settings.resolveDevice();
        String allocator = allocator();
        int cores = Runtime.getRuntime().availableProcessors();

        int ourThreads = threads;
        if (ourThreads == 0 && !onDevice.isGpu()) {
            double one = ours(settings, tokens, 1, PROBE_STEPS, null, false).get("tokens_per_s").asDouble();
            double all = ours(settings, tokens, cores, PROBE_STEPS, null, false).get("tokens_per_s").asDouble();
            ourThreads = all >= one ? cores : 1;
            log("Millrace thread probe: 1 thread %.0f, %d threads %.0f tokens/s", one, cores, all);
        }
        // the ceiling in the precision the step multiplies in
        ai.djl.ndarray.types.DataType mathType = precision.dataType();
        ArrayNode rss = JsonSerde.MAPPER.createArrayNode();
        // on a GPU nothing is probed: 1 thread, as the peers get there
        ObjectNode ours = ours(settings, tokens, Math.max(1, ourThreads), steps, rss, true);
        // after the run: measured before it, what the products leave in libtorch's caching allocator on a GPU would
        // count as "before", and the run, reusing it, would seem to take that much less
        double matmul = matmulGflops(onDevice, Math.max(1, ourThreads), mathType);
        ours.put("allocator", allocator);
        double flopsPerToken = ours.get("flops_per_token").asDouble();
        ours.put("fraction_of_matmul_rate", ours.get("tokens_per_s").asDouble() * flopsPerToken / (matmul * 1e9));
        log("Millrace: %.0f tokens/s, loss %.3f, RSS every 100 steps %s MB", ours.get("tokens_per_s").asDouble(),
                ours.get("final_loss").asDouble(), rss);

        ArrayNode peerRuns = JsonSerde.MAPPER.createArrayNode();
        String py = python.equals("auto") ? BenchSupport.pythonEnvironment() : python;
        if (!python.equals("none") && py != null) {
            for (String mode : peers) {
                int t = peerThreads;
                if (t == 0 && !onDevice.isGpu()) {
                    JsonNode one = runPeer(py, mode, 1, PROBE_STEPS, config, tokens, false, allocator, false);
                    JsonNode all = runPeer(py, mode, cores, PROBE_STEPS, config, tokens, false, allocator, false);
                    if (one == null || all == null) continue;
                    t = all.get("tokens_per_s").asDouble() >= one.get("tokens_per_s").asDouble() ? cores : 1;
                    log("PyTorch %s thread probe: 1 thread %.0f, %d threads %.0f tokens/s", mode, one.get("tokens_per_s").asDouble(),
                            cores, all.get("tokens_per_s").asDouble());
                }
                JsonNode peer = runPeer(py, mode, Math.max(1, t), steps, config, tokens, onDevice.isGpu(), allocator, true);
                if (peer == null) continue;
                ((ObjectNode) peer).put("allocator", allocator).put("fraction_of_matmul_rate",
                        peer.get("tokens_per_s").asDouble() * flopsPerToken / (matmul * 1e9));
                peerRuns.add(peer);
            }
        }

        ObjectNode o = JsonSerde.MAPPER.createObjectNode();
        o.put("model", model).put("batch", batch).put("seq", seq).put("steps", steps).put("cores", cores)
                .put("matmul_gflops", matmul).set("millrace", ours);
        o.set("peers", peerRuns);
        JsonNode fastest = null;
        for (JsonNode p : peerRuns) {
            if (fastest == null || p.get("tokens_per_s").asDouble() > fastest.get("tokens_per_s").asDouble()) fastest = p;
        }
        if (fastest != null) {
            o.put("fastest_peer", fastest.get("peer").asText());
            o.put("ratio", ours.get("tokens_per_s").asDouble() / fastest.get("tokens_per_s").asDouble());
            o.put("peak_rss_ratio", ours.get("peak_rss_mb").asDouble() / fastest.get("peak_rss_mb").asDouble());
            if (ours.has("device_memory_mb") && fastest.has("device_memory_mb")) {
                o.put("device_memory_ratio", ours.get("device_memory_mb").asDouble() / fastest.get("device_memory_mb").asDouble());
            }
        }
        if (json) {
            System.out.println(JsonSerde.MAPPER.writeValueAsString(o));
            return 0;
        }
        System.out.printf("%s, batch %d x %d, %d steps; %s; %s matrix products here: %.0f GFLOP/s (%d threads)%n", model,
                batch, seq, steps, allocator, mathType, matmul, Math.max(1, ourThreads));
        print("Millrace (libtorch " + ai.djl.engine.Engine.getEngine("PyTorch").getVersion() + " via DJL, " + kernels + " kernels, "
                + lossRan() + " loss)", ours);
        if (ours.has("mfu")) System.out.printf("  MFU on %s %s: %.1f%%%n", onDevice, precision, 100 * ours.get("mfu").asDouble());
        for (JsonNode p : peerRuns) print(p.get("peer").asText(), p);
        if (fastest != null) {
            System.out.printf("Millrace / fastest peer (%s): %.2fx tokens/s, %.2fx peak RSS%s%n", fastest.get("peer").asText(),
                    o.get("ratio").asDouble(), o.get("peak_rss_ratio").asDouble(),
                    o.has("device_memory_ratio") ? String.format(", %.2fx GPU memory", o.get("device_memory_ratio").asDouble()) : "");
        }
        return 0;
    }

    private static void print(String name, JsonNode r) {
        System.out.printf("  %s, %d threads: %.0f tokens/s (%.0f%% of the matrix-product rate), final loss %.3f, RSS every 100 steps %s MB, peak %.0f MB%n",
                name, r.get("threads").asInt(), r.get("tokens_per_s").asDouble(), 100 * r.get("fraction_of_matmul_rate").asDouble(),
                r.get("final_loss").asDouble(), r.get("rss_mb_every_100_steps"), r.get("peak_rss_mb").asDouble());
        if (r.has("phases_ms")) {
            JsonNode p = r.get("phases_ms");
            System.out.printf("    one step, waiting at each phase's end (median): forward and loss %.1f ms, backward %.1f ms, update %.1f ms%n",
                    p.get("forward").asDouble(), p.get("backward").asDouble(), p.get("update").asDouble());
        }
        if (r.has("device_memory_mb")) System.out.printf("    GPU memory the run took: %.0f MiB%n", r.get("device_memory_mb").asDouble());
    }

    /** Millrace's trainer: {@code n} timed steps with {@code threads} intra-op threads (0: libtorch's default). */
    private ObjectNode ours(TrainSettings settings, int[] tokens, int threads, int n, ArrayNode rss, boolean timed) throws Exception {
        if (threads > 0) ai.djl.pytorch.jni.JniUtils.setNumThreads(threads);
        ObjectNode out = JsonSerde.MAPPER.createObjectNode();
        ai.djl.Device onDevice = settings.resolveDevice();
        try (NDManager root = ModelTrainer.newRootManager(settings)) {
            // on a GPU: what the device holds before the model, so the run's own share is after minus before (libtorch's
            // caching allocator keeps what it reserved, so after the last step that is the run's peak reservation, with
            // cuBLAS's workspaces and the kernels loaded); the peer reports the same difference for itself
            long deviceBefore = onDevice.isGpu() ? ai.djl.util.cuda.CudaUtils.getGpuMemory(onDevice).getUsed() : 0;
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(1);
            LanguageModel gpt = LanguageModel.initialize(settings.model(), root);
            gpt.useFusedKernels(kernels != Kernels.explicit);
            gpt.useScriptedBlocks(kernels == Kernels.fused);
            ModelTrainer trainer = new ModelTrainer(settings, root, gpt, 0, 0);
            trainer.useLoss(lossMode.loss);
            long started = 0;
            float loss = Float.NaN;
            for (int step = 0; step < n + warmup; step++) {
                if (step == warmup) started = System.nanoTime();
                loss = trainer.step(rowsAt(tokens, step)).loss();
                if (rss != null && step >= warmup && (step - warmup) % 100 == 0) rss.add(Math.round(BenchSupport.rssMb() * 10) / 10.0);
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            if (timed && phases > 0) {
                trainer.timePhases(true);
                List<ModelTrainer.Phases> phaseTimes = new ArrayList<>();
                for (int step = n + warmup; step < n + warmup + phases; step++) {
                    trainer.step(rowsAt(tokens, step));
                    phaseTimes.add(trainer.lastPhases());
                }
                out.set("phases_ms", JsonSerde.MAPPER.createObjectNode()
                        .put("forward", median(phaseTimes.stream().map(ModelTrainer.Phases::forwardMs).toList()))
                        .put("backward", median(phaseTimes.stream().map(ModelTrainer.Phases::backwardMs).toList()))
                        .put("update", median(phaseTimes.stream().map(ModelTrainer.Phases::updateMs).toList())));
            }
            double tokensPerSecond = (double) n * batch * seq / seconds;
            out.put("kernels", kernels.name()).put("loss", lossRan().name()).put("device", onDevice.toString()).put("precision", precision.name())
                    .put("threads", ai.djl.pytorch.jni.JniUtils.getNumThreads()).put("tokens_per_s", tokensPerSecond)
                    .put("seconds", seconds).put("final_loss", loss).put("peak_rss_mb", BenchSupport.peakRssMb())
                    .put("flops_per_token", trainer.model().flopsPerToken());
            if (rss != null) out.set("rss_mb_every_100_steps", rss);
            if (onDevice.isGpu()) {
                out.put("device_memory_mb", (ai.djl.util.cuda.CudaUtils.getGpuMemory(onDevice).getUsed() - deviceBefore) / 1048576.0);
            }
            var peak = millrace.train.PeakFlops.of(onDevice, precision);
            if (peak.isPresent()) out.put("mfu", tokensPerSecond * trainer.model().flopsPerToken() / peak.getAsDouble());
            trainer.close();
        }
        return out;
    }

    /** Step {@code step}'s rows: {@code batch} windows of {@code seq + 1} tokens, the stream read in order. */
    private List<int[]> rowsAt(int[] tokens, int step) {
        int row = seq + 1;
        int perStep = batch * row;
        int start = (int) (((long) step * perStep) % (tokens.length - perStep));
        List<int[]> rows = new ArrayList<>(batch);
        for (int r = 0; r < batch; r++) rows.add(java.util.Arrays.copyOfRange(tokens, start + r * row, start + (r + 1) * row));
        return rows;
    }

    private static double median(List<Double> xs) {
        return BenchSupport.percentile(xs, 50);
    }

    /**
     * The machine's matrix-product rate in {@code type}, as libtorch reaches it on a large square product (2,048³; 8,192³ on a GPU):
     * the ceiling every trainer's share is taken of.
     */
    private static double matmulGflops(ai.djl.Device onDevice, int threads, ai.djl.ndarray.types.DataType type) {
        ai.djl.pytorch.jni.JniUtils.setNumThreads(threads);
        int n = onDevice.isGpu() ? 8192 : 2048; // a GPU does 2,048³ in well under a millisecond: too short to time
        int reps = 10;
        // cast and multiplied inside TorchScript: DJL 0.36's own cast to bf16 aborts the process
        int scalarType = switch (type) {
            case FLOAT16 -> 5;
            case BFLOAT16 -> 15;
            default -> 6;
        };
        try (NDManager m = NDManager.newBaseManager(onDevice, "PyTorch");
                millrace.model.TorchScriptModule products = millrace.model.TorchScriptModule.compile(
                        (ai.djl.pytorch.engine.PtNDManager) m, "Products",
                        "  def forward(self: __torch__.Products, a: Tensor, b: Tensor, reps: Tensor) -> Tensor:\n"
                        + "    x = torch.to(a, " + scalarType + ")\n"
                        + "    y = torch.to(b, " + scalarType + ")\n"
                        + "    c = x\n"
                        + "    for i in range(int(reps)):\n"
                        + "      c = torch.matmul(x, y)\n"
                        + "    return torch.to(torch.select(torch.select(c, 0, 0), 0, 0), 6)\n")) {
            NDArray a = m.randomNormal(new ai.djl.ndarray.types.Shape(n, n));
            NDArray b = m.randomNormal(new ai.djl.ndarray.types.Shape(n, n));
            products.forward(a, b, m.create(2)).getFloat(); // warm
            long started = System.nanoTime();
            products.forward(a, b, m.create(reps)).getFloat(); // the value waits for the products on a GPU
            return 2.0 * n * n * n * reps / ((System.nanoTime() - started) / 1e9) / 1e9;
        }
    }

    /** The allocator this process runs under (the launcher preloads jemalloc with a setting): the peers get the same. */
    private static String allocator() {
        String preload = System.getenv().getOrDefault("LD_PRELOAD", "");
        if (!preload.contains("jemalloc")) return "glibc";
        return "jemalloc " + System.getenv().getOrDefault("MALLOC_CONF", "(defaults)");
    }

    /**
     * {@code bench/train_torch.py} in {@code mode} (eager or compiled), under this process's allocator: nanoGPT's GPT
     * for GPT-2's shape, transformers' own class of the model's {@code config.json} ({@code LlamaForCausalLM}, ...)
     * for the Llama family.
     */
    private JsonNode runPeer(String py, String mode, int peerThreads, int n, ModelConfig config, int[] tokens, boolean gpu,
            String allocator, boolean timed) throws Exception {
        Path script = BenchSupport.repoFile("bench/train_torch.py");
        Path ids = Files.createTempFile("millrace-bench-tokens", ".i32");
        Path hfConfig = Files.createTempDirectory("millrace-bench-config");
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(ids)))) {
            for (int t : tokens) out.writeInt(Integer.reverseBytes(t));
        }
        try {
            List<String> cmd = new ArrayList<>(List.of(py, script.toString()));
            if (config instanceof Gpt2Config g) {
                cmd.addAll(List.of("--layers", "" + g.nLayer(), "--heads", "" + g.nHead(), "--width", "" + g.nEmbd(),
                        "--vocab", "" + g.vocabSize()));
            } else {
                HuggingFace.writeConfig(config, hfConfig);
                cmd.addAll(List.of("--hf-config", hfConfig.toString()));
            }
            cmd.addAll(List.of("--seq", "" + seq, "--batch", "" + batch, "--steps", "" + n, "--warmup", "" + warmup,
                    "--tokens", ids.toString(), "--threads", "" + peerThreads));
            if (mode.equals("compiled")) cmd.add("--compile");
            else if (!mode.equals("eager")) throw new IllegalArgumentException("unknown peer mode " + mode + " (eager, compiled)");
            if (timed && phases > 0) cmd.addAll(List.of("--phases", "" + phases));
            if (gpu) cmd.addAll(List.of("--device", "cuda"));
            // the peer computes in what Millrace computes in: autocast to fp16 or bf16 on either device
            boolean tf32 = gpu && "1".equals(System.getenv("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"));
            cmd.addAll(List.of("--dtype", switch (precision) {
                case FP16 -> "fp16";
                case BF16 -> "bf16";
                case FP32 -> tf32 ? "tf32" : "fp32";
            }));
            log("peer (%s): %s", allocator, String.join(" ", cmd));
            // the environment is inherited: LD_PRELOAD and MALLOC_CONF are this process's, so the allocator is the same
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(4, TimeUnit.HOURS) || p.exitValue() != 0) {
                log("peer %s failed: %s", mode, out);
                return null;
            }
            return JsonSerde.MAPPER.readTree(out.lines().reduce((a, b) -> b).orElse("{}"));
        } finally {
            Files.deleteIfExists(ids);
            CheckpointStore.deleteTree(hfConfig);
        }
    }

    private static void log(String format, Object... args) {
        System.err.printf(format + "%n", args);
    }
}
