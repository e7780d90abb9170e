package millrace.cli;

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
import java.util.stream.Stream;
import millrace.model.Gpt;
import millrace.model.GptConfig;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.Tokenizers;
import millrace.tokenizer.TextTokenizer;
import millrace.train.GptTrainer;
import millrace.train.TrainSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * CPU training throughput and memory of Millrace's trainer next to PyTorch eager training the same architecture,
 * batch, sequence length, optimizer and token stream ({@code bench/train_torch.py}) on the same machine.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Tokens/s, RSS (and MFU on a GPU) of N training steps of a preset, against PyTorch eager (bench/train_torch.py) "
                + "on the same architecture, batch and tokens.")
final class TrainBench implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "small", description = "Preset (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--batch-size", defaultValue = "8", description = "Rows per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seq-len", defaultValue = "64", description = "Tokens per row (default: ${DEFAULT-VALUE}).")
    int seq;

    @Option(names = "--steps", defaultValue = "1000", description = "Timed steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--warmup", defaultValue = "5", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--python", defaultValue = "/usr/bin/python3", description = "Python with torch for the peer (default: ${DEFAULT-VALUE}; 'none' skips it).")
    String python;

    @Option(names = "--peer-threads", defaultValue = "1",
            description = "PyTorch intra-op threads (default: ${DEFAULT-VALUE}: Debian's torch multiplies matrices through "
                    + "OpenBLAS, which runs its own threads; on 2 cores 1 intra-op thread measured faster than 2).")
    int peerThreads;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, gpu or auto (default: ${DEFAULT-VALUE}); the peer runs on the same.")
    String device;

    @Option(names = "--precision", defaultValue = "FP32",
            description = "FP32, or FP16 with fp32 master weights and loss scaling (default: ${DEFAULT-VALUE}); the peer uses autocast fp16.")
    TrainSettings.Precision precision;

    enum Kernels { fused, explicit }

    @Option(names = "--kernels", defaultValue = "fused",
            description = "fused: attention and GELU as libtorch's fused kernels; explicit: written out in elementary ops (default: ${DEFAULT-VALUE}).")
    Kernels kernels;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        TextTokenizer tokenizer = Tokenizers.load("r50k");
        int[] tokens = corpusTokens(tokenizer);
        GptConfig config = GptConfig.preset(model, tokenizer.vocabSize(), seq);
        TrainSettings demo = TrainSettings.tinyDemo("r50k", tokenizer.vocabSize(), seq);
        TrainSettings settings = new TrainSettings("bench", config, "r50k", batch, demo.schedule(), demo.clipNorm(),
                demo.adam(), 1, 3600, 1, 0, batch, precision, device, 0);

        ObjectNode ours = JsonSerde.MAPPER.createObjectNode();
        ArrayNode rss = ours.putArray("rss_mb_every_100_steps");
        ArrayNode heap = ours.putArray("jvm_heap_committed_mb_every_100_steps"); // RSS minus this is native memory
        ai.djl.Device onDevice = settings.resolveDevice();
        try (NDManager root = GptTrainer.newRootManager(settings)) {
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(1);
            Gpt gpt = Gpt.initialize(config, root);
            gpt.useFusedKernels(kernels == Kernels.fused);
            GptTrainer trainer = new GptTrainer(settings, root, gpt, 0, 0);
            ours.put("kernels", kernels.name()).put("device", onDevice.toString()).put("precision", precision.name());
            int row = seq + 1;
            int perStep = batch * row;
            long started = 0;
            float loss = Float.NaN;
            int threads = ai.djl.pytorch.jni.JniUtils.getNumThreads();
            ours.put("threads", threads);
            log("Millrace (libtorch %s through DJL, %d threads): %s, %d parameters, batch %d x %d, %d steps",
                    ai.djl.engine.Engine.getEngine("PyTorch").getVersion(), threads, model,
                    trainer.model().parameterCount(), batch, seq, steps);
            for (int step = 0; step < steps + warmup; step++) {
                if (step == warmup) started = System.nanoTime();
                int start = (int) (((long) step * perStep) % (tokens.length - perStep));
                List<int[]> rows = new ArrayList<>(batch);
                for (int r = 0; r < batch; r++) rows.add(java.util.Arrays.copyOfRange(tokens, start + r * row, start + (r + 1) * row));
                loss = trainer.step(rows).loss();
                if (step >= warmup && (step - warmup) % 100 == 0) {
                    rss.add(Math.round(rssMb() * 10) / 10.0);
                    heap.add(Math.round(Runtime.getRuntime().totalMemory() / 1e5 / 1.048576) / 10.0);
                }
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            double tokensPerSecond = (double) steps * batch * seq / seconds;
            ours.put("tokens_per_s", tokensPerSecond).put("seconds", seconds)
                    .put("final_loss", loss).put("peak_rss_mb", peakRssMb());
            var peak = millrace.train.PeakFlops.of(onDevice, precision);
            if (peak.isPresent()) ours.put("mfu", tokensPerSecond * trainer.model().flopsPerToken() / peak.getAsDouble());
            trainer.close();
        }
        log("Millrace: %.0f tokens/s, loss %.3f, RSS every 100 steps %s MB (JVM heap committed %s MB)",
                ours.get("tokens_per_s").asDouble(), ours.get("final_loss").asDouble(), rss, heap);

        JsonNode peer = null;
        if (!python.equals("none")) peer = runPeer(config, tokens, onDevice.isGpu());

        ObjectNode o = JsonSerde.MAPPER.createObjectNode();
        o.put("model", model).put("batch", batch).put("seq", seq).put("steps", steps).set("millrace", ours);
        if (peer != null) {
            o.set("peer", peer);
            o.put("ratio", ours.get("tokens_per_s").asDouble() / peer.get("tokens_per_s").asDouble());
        }
        if (json) {
            System.out.println(JsonSerde.MAPPER.writeValueAsString(o));
        } else {
            System.out.printf("Millrace (%d threads): %.0f tokens/s (%d steps of %s, batch %d x %d), final loss %.3f, RSS every 100 steps %s MB, peak %.0f MB%n",
                    ours.get("threads").asInt(), ours.get("tokens_per_s").asDouble(), steps, model, batch, seq,
                    ours.get("final_loss").asDouble(), rss,
                    ours.get("peak_rss_mb").asDouble());
            if (ours.has("mfu")) System.out.printf("Millrace MFU on %s %s: %.1f%%%n", onDevice, precision, 100 * ours.get("mfu").asDouble());
            if (peer != null) {
                System.out.printf("peer: %s (%d threads): %.0f tokens/s, final loss %.3f, RSS every 100 steps %s MB, peak %.0f MB%n",
                        peer.get("peer").asText(), peer.get("threads").asInt(), peer.get("tokens_per_s").asDouble(),
                        peer.get("final_loss").asDouble(), peer.get("rss_mb_every_100_steps"), peer.get("peak_rss_mb").asDouble());
                System.out.printf("Millrace / PyTorch: %.2fx%n", o.get("ratio").asDouble());
            }
        }
        return 0;
    }

    /** The sample corpus (KJV) as r50k ids: the same stream for both trainers. */
    private static int[] corpusTokens(TextTokenizer tokenizer) throws Exception {
        Path corpus = BenchSupport.repoFile("corpus/kjv");
        List<Path> books;
        try (Stream<Path> s = Files.list(corpus)) {
            books = s.sorted().toList();
        }
        List<int[]> parts = new ArrayList<>();
        int total = 0;
        for (Path book : books) {
            int[] ids = tokenizer.encode(Files.readString(book));
            parts.add(ids);
            total += ids.length;
        }
        int[] all = new int[total];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }

    private JsonNode runPeer(GptConfig config, int[] tokens, boolean gpu) throws Exception {
        Path script = BenchSupport.repoFile("bench/train_torch.py");
        Path ids = Files.createTempFile("millrace-bench-tokens", ".i32");
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(ids)))) {
            for (int t : tokens) out.writeInt(Integer.reverseBytes(t));
        }
        try {
            List<String> cmd = new ArrayList<>(List.of(python, script.toString(), "--layers", "" + config.nLayer(), "--heads", "" + config.nHead(),
                    "--width", "" + config.nEmbd(), "--vocab", "" + config.vocabSize(), "--seq", "" + seq, "--batch", "" + batch,
                    "--steps", "" + steps, "--warmup", "" + warmup, "--tokens", ids.toString(),
                    "--threads", "" + peerThreads));
            if (gpu) {
                boolean tf32 = "1".equals(System.getenv("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"));
                cmd.addAll(List.of("--device", "cuda", "--dtype",
                        precision == TrainSettings.Precision.FP16 ? "fp16" : tf32 ? "tf32" : "fp32"));
            }
            log("peer: %s", String.join(" ", cmd));
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(4, TimeUnit.HOURS) || p.exitValue() != 0) {
                log("peer failed (needs torch for %s: apt-get install python3-torch libopenblas0-pthread): %s", python, out);
                return null;
            }
            return JsonSerde.MAPPER.readTree(out.lines().reduce((a, b) -> b).orElse("{}"));
        } finally {
            Files.deleteIfExists(ids);
        }
    }

    static double rssMb() throws Exception {
        return statusMb("VmRSS");
    }

    static double peakRssMb() throws Exception {
        return statusMb("VmHWM");
    }

    /** A memory line of /proc/self/status, in MiB. */
    private static double statusMb(String field) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) return Long.parseLong(line.replaceAll("\\D+", "")) / 1024.0;
        }
        return Double.NaN;
    }

    private static void log(String format, Object... args) {
        System.err.printf(format + "%n", args);
    }
}
