package millrace.cli;

import millrace.protocol.JsonSerde;
import java.util.Map;
import java.util.LinkedHashMap;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.JsonNode;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import java.util.stream.Stream;
import millrace.tokenizer.BpeTrainer;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Pretokenizer;
import millrace.tokenizer.Vocabularies;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code millrace bench <name>}: performance, measured against a named peer on the same machine in the same run. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks against named peers.",
        subcommands = {BenchCommand.TokenizerBench.class, DedupBench.class, ExtractBench.class, TrainBench.class, ArenaBench.class, FeedbackBench.class, SftBench.class, FaultBench.class, GenerateBench.class, PipelineBench.class, DilocoBench.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Where the real text for benchmarks comes from (Debian packages; the ones installed are used). */
    static final List<Path> TEXT_SOURCES = List.of(Path.of("corpus/kjv"), Path.of("/usr/share/dasher"),
            Path.of("/usr/share/dictd"), Path.of("/usr/share/doc/linux-doc-6.1"), Path.of("/usr/share/doc/python3.11"));

    @Command(name = "tokenizer", mixinStandardHelpOptions = true,
            description = "Encode throughput of Millrace against JTokkit, Hugging Face tokenizers through DJL, and, in Python "
                    + "as their users run them, OpenAI's tiktoken and Hugging Face tokenizers, on the same text and "
                    + "vocabulary, asserting identical ids; the ratio against the fastest peer and its spread over rounds; "
                    + "and BPE training time for a 32k vocabulary. With --tokenizer, an open model's tokenizer.json "
                    + "(Llama 3, Qwen3) instead of OpenAI's vocabularies.")
    static final class TokenizerBench implements Callable<Integer> {
        @Option(names = "--vocab", defaultValue = "cl100k", description = "r50k, cl100k or o200k (default: ${DEFAULT-VALUE}).")
        String vocab;

        @Option(names = "--tokenizer", description = "A tokenizer.json (Llama 3's, Qwen3's) instead of --vocab: Millrace "
                + "against Hugging Face tokenizers on that file, and tiktoken built from its ranks, pattern and added tokens "
                + "where its rule is tiktoken's (no normalizer, ignore_merges).")
        Path tokenizerFile;

        @Option(names = "--encode-mb", defaultValue = "20", description = "MB of text to encode (default: ${DEFAULT-VALUE}).")
        int encodeMb;

        @Option(names = "--train-mb", defaultValue = "100", description = "MB of text to train on; 0 skips training (default: ${DEFAULT-VALUE}).")
        int trainMb;

        @Option(names = "--train-vocab", defaultValue = "32000", description = "Vocabulary to train (default: ${DEFAULT-VALUE}).")
        int trainVocab;

        @Option(names = "--rounds", defaultValue = "3", description = "Timed rounds per encoder, best kept (default: ${DEFAULT-VALUE}).")
        int rounds;

        @Option(names = "--python", defaultValue = "auto", description = "Python with tiktoken and tokenizers (default: ${DEFAULT-VALUE}: "
                + "the environment bench/python-env.sh makes; none: no Python peers).")
        String python;

        @Option(names = "--json", description = "End with one JSON line.")
        boolean json;

        @Override
        public Integer call() throws Exception {
            String home = System.getenv().getOrDefault("MILLRACE_HOME", ".");
            List<String> docs = realText(home, encodeMb * 1_000_000L);
            long bytes = docs.stream().mapToLong(d -> d.getBytes(StandardCharsets.UTF_8).length).sum();
            int cores = Runtime.getRuntime().availableProcessors();
            System.out.printf("text: %d documents, %.1f MB of real text; %d cores%n", docs.size(), bytes / 1e6, cores);

            // OpenAI's vocabularies: JTokkit knows them, Hugging Face loads the tokenizer.json Millrace writes for them.
            // A tokenizer.json: Hugging Face loads it as it is, JTokkit has nothing to load
            ByteLevelBpe millrace = tokenizerFile != null ? Vocabularies.read(tokenizerFile) : Vocabularies.builtin(vocab);
            String label = tokenizerFile != null ? tokenizerFile.toString() : vocab;
            Encoding jtokkit = tokenizerFile != null ? null : Encodings.newDefaultEncodingRegistry().getEncoding(switch (vocab) {
                case "r50k" -> EncodingType.R50K_BASE;
                case "cl100k" -> EncodingType.CL100K_BASE;
                case "o200k" -> EncodingType.O200K_BASE;
                default -> throw new IllegalArgumentException("--vocab: r50k, cl100k or o200k");
            });
            Path json = tokenizerFile != null ? tokenizerFile : Files.createTempFile("millrace-bench-", ".json");
            if (tokenizerFile == null) Vocabularies.writeHuggingFace(millrace, json);
            System.out.println("vocabulary: " + millrace);
            try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder().optTokenizerPath(json)
                    .optAddSpecialTokens(false).optTruncation(false).build()) {
                // same ids, or the throughput means nothing. Hugging Face always finds added tokens in the text, as
                // encodeWithSpecials does; tiktoken's and JTokkit's encode_ordinary do not, as encode does not
                for (String d : docs) {
                    if (jtokkit != null && !Arrays.equals(millrace.encode(d), jtokkit.encodeOrdinary(d).toArray())) {
                        throw new AssertionError("JTokkit differs");
                    }
                    if (!Arrays.equals(Arrays.stream(millrace.encodeWithSpecials(d)).asLongStream().toArray(),
                            hf.encode(d, false, false).getIds())) {
                        throw new AssertionError("Hugging Face tokenizers differs");
                    }
                }
                System.out.println("ids: identical for Millrace" + (jtokkit != null ? ", JTokkit" : "")
                        + " and Hugging Face tokenizers via DJL on every document");
                ObjectNode result = JsonSerde.MAPPER.createObjectNode().put("vocab", label).put("mb", bytes / 1e6)
                        .put("cores", cores);
                for (int threads : cores > 1 ? new int[] {1, cores} : new int[] {1}) {
                    Map<String, double[]> runs = new LinkedHashMap<>();
                    runs.put("Millrace", rounds(docs, bytes, threads, millrace::encode));
                    if (jtokkit != null) runs.put("JTokkit", rounds(docs, bytes, threads, d -> jtokkit.encodeOrdinary(d).toArray()));
                    runs.put("HF tokenizers via DJL", rounds(docs, bytes, threads, d -> hf.encode(d, false, false).getIds()));
                    runs.putAll(pythonPeers(millrace, docs, json, threads));
                    result.set(threads == 1 ? "threads_1" : "threads_" + threads, report(threads, runs));
                }
                // one JVM holds Millrace, JTokkit and DJL's tokenizers: their peak together, the documents included
                double peakRss = BenchSupport.peakRssMb();
                System.out.printf("JVM peak RSS %.0f MB (Millrace, %sHF via DJL together, and the documents)%n", peakRss,
                        jtokkit != null ? "JTokkit and " : "");
                result.put("jvm_peak_rss_mb", peakRss);
                if (this.json) System.out.println(JsonSerde.MAPPER.writeValueAsString(result));
            } finally {
                if (tokenizerFile == null) Files.deleteIfExists(json);
            }
            if (trainMb > 0) {
                List<String> trainDocs = realText(home, trainMb * 1_000_000L);
                long trainBytes = trainDocs.stream().mapToLong(d -> d.getBytes(StandardCharsets.UTF_8).length).sum();
                long started = System.nanoTime();
                BpeTrainer trainer = new BpeTrainer(Pretokenizer.GPT2);
                ExecutorService pool = Executors.newFixedThreadPool(cores);
                List<Future<?>> done = new ArrayList<>();
                for (String d : trainDocs) done.add(pool.submit(() -> trainer.add(d)));
                for (Future<?> f : done) f.get();
                pool.shutdown();
                double counted = (System.nanoTime() - started) / 1e9;
                ByteLevelBpe trained = trainer.train("bench", trainVocab, 2, BpeTrainer.DEFAULT_SPECIALS);
                double total = (System.nanoTime() - started) / 1e9;
                System.out.printf("train %d-token vocabulary on %.1f MB: %.1f s (split and count %.1f s, %d distinct pieces;"
                        + " merges %.1f s) on %d cores -> %s%n", trained.vocabSize(), trainBytes / 1e6, total, counted,
                        trainer.distinctPieces(), total - counted, cores, trained.id());
            }
            return 0;
        }

        /** MB/s of each timed round (after one warm-up round), {@code threads} threads sharing the documents. */
        private double[] rounds(List<String> docs, long bytes, int threads, Function<String, Object> encode)
                throws Exception {
            double[] out = new double[rounds];
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                for (int round = 0; round <= rounds; round++) { // round 0 warms up
                    long started = System.nanoTime();
                    List<Future<?>> done = new ArrayList<>();
                    for (int t = 0; t < threads; t++) {
                        int slice = t;
                        done.add(pool.submit(() -> {
                            for (int i = slice; i < docs.size(); i += threads) encode.apply(docs.get(i));
                        }));
                    }
                    for (Future<?> f : done) f.get();
                    if (round > 0) out[round - 1] = bytes / 1e6 / ((System.nanoTime() - started) / 1e9);
                }
            } finally {
                pool.shutdown();
            }
            return out;
        }

        /**
         * tiktoken and tokenizers in Python ({@code bench/tokenize_peers.py}) on the same documents, their ids checked
         * against ours there; empty when there is no Python environment, or a peer's ids differ (said, and left out).
         * tiktoken is OpenAI's own vocabulary from its registry, or for a tokenizer.json whose rule is tiktoken's (no
         * normalizer, a piece that is a token taken whole) an Encoding of its ranks, pattern and added tokens, as Meta's
         * Llama 3 code makes one; for other files there is none.
         */
        private Map<String, double[]> pythonPeers(ByteLevelBpe millrace, List<String> docs, Path hfJson, int threads)
                throws Exception {
            Map<String, double[]> out = new LinkedHashMap<>();
            String py = python.equals("none") ? null : python.equals("auto") ? BenchSupport.pythonEnvironment() : python;
            if (py == null) return out;
            java.security.MessageDigest ordinary = java.security.MessageDigest.getInstance("SHA-256");
            java.security.MessageDigest withAdded = java.security.MessageDigest.getInstance("SHA-256");
            Path docFile = Files.createTempFile("millrace-bench-docs-", ".jsonl");
            Path ranks = Files.createTempFile("millrace-bench-", ".tiktoken");
            try {
                try (var w = Files.newBufferedWriter(docFile, StandardCharsets.UTF_8)) {
                    for (String d : docs) {
                        w.write(JsonSerde.MAPPER.writeValueAsString(Map.of("text", d)));
                        w.write('\n');
                        ordinary.update(idBytes(millrace.encode(d)));
                        withAdded.update(idBytes(millrace.encodeWithSpecials(d)));
                    }
                }
                List<String> command = new ArrayList<>(List.of(py, BenchSupport.repoFile("bench/tokenize_peers.py").toString(),
                        "--docs", docFile.toString(), "--hf-json", hfJson.toString(),
                        "--checksum", java.util.HexFormat.of().formatHex(ordinary.digest()),
                        "--checksum-hf", java.util.HexFormat.of().formatHex(withAdded.digest()),
                        "--threads", Integer.toString(threads), "--rounds", Integer.toString(rounds)));
                if (tokenizerFile == null) {
                    // the rank file tiktoken would download is the one JTokkit ships
                    try (var in = Encodings.class.getResourceAsStream("/com/knuddels/jtokkit/" + vocab + "_base.tiktoken")) {
                        Files.copy(in, ranks, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    }
                    command.addAll(List.of("--tiktoken-registry", vocab, "--ranks", ranks.toString()));
                } else if (millrace.normalization().isEmpty() && millrace.ignoresMerges()) {
                    command.addAll(List.of("--tiktoken-from-json", "--pattern", millrace.pattern()));
                }
                ProcessBuilder pb = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
                pb.environment().put("RAYON_NUM_THREADS", Integer.toString(threads)); // tokenizers' thread pool
                pb.environment().put("TOKENIZERS_PARALLELISM", "true");
                Process p = pb.start();
                String outText = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
                if (p.waitFor() != 0) {
                    System.err.println("Python peers failed (exit " + p.exitValue() + ")");
                    return out;
                }
                JsonNode r = JsonSerde.MAPPER.readTree(outText.lines().reduce((a, b) -> b).orElse("{}"));
                List<String> names = new ArrayList<>();
                for (String lib : List.of("tiktoken", "tokenizers")) {
                    JsonNode peer = r.get(lib);
                    if (peer == null) continue;
                    String name = lib + " " + peer.get("version").asText() + " (Python)";
                    if (!peer.get("ids_identical").asBoolean()) {
                        // a peer that encodes differently is not measured against: the bench fails rather than
                        // quietly taking its ratio against a slower one
                        throw new IllegalStateException(name + ": ids differ from Millrace's on these documents");
                    }
                    double[] mbs = new double[peer.get("mb_per_s").size()];
                    for (int i = 0; i < mbs.length; i++) mbs[i] = peer.get("mb_per_s").get(i).asDouble();
                    out.put(name, mbs);
                    names.add(lib);
                }
                System.out.printf("ids: identical for %s in Python too (%d thread%s); that process's peak RSS %.0f MB%n",
                        String.join(" and ", names), threads, threads == 1 ? "" : "s", r.get("peak_rss_mb").asDouble());
            } finally {
                Files.deleteIfExists(docFile);
                Files.deleteIfExists(ranks);
            }
            return out;
        }

        private static byte[] idBytes(int[] ids) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * ids.length + 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (int id : ids) b.putInt(id);
            b.putInt(ids.length);
            return b.array();
        }

        /**
         * Prints each encoder's best MB/s, and Millrace's ratio against the fastest peer, with its spread: the ratio of
         * each of Millrace's rounds to the same round of that peer.
         */
        private static ObjectNode report(int threads, Map<String, double[]> runs) {
            ObjectNode o = JsonSerde.MAPPER.createObjectNode();
            double ours = Arrays.stream(runs.get("Millrace")).max().orElse(0);
            String fastest = null;
            double best = 0;
            StringBuilder line = new StringBuilder(String.format("encode, %d thread%s:", threads, threads == 1 ? "" : "s"));
            for (Map.Entry<String, double[]> e : runs.entrySet()) {
                double mbs = Arrays.stream(e.getValue()).max().orElse(0);
                line.append(String.format(" %s %.1f MB/s;", e.getKey(), mbs));
                o.putObject(e.getKey()).put("mb_per_s", mbs).putPOJO("rounds", e.getValue());
                if (!e.getKey().equals("Millrace") && mbs > best) {
                    best = mbs;
                    fastest = e.getKey();
                }
            }
            double[] m = runs.get("Millrace");
            double[] f = runs.get(fastest);
            double lo = Double.MAX_VALUE, hi = 0;
            for (int i = 0; i < Math.min(m.length, f.length); i++) {
                lo = Math.min(lo, m[i] / f[i]);
                hi = Math.max(hi, m[i] / f[i]);
            }
            line.append(String.format(" -> Millrace / fastest peer (%s) %.2fx (rounds %.2fx-%.2fx)", fastest, ours / best, lo, hi));
            System.out.println(line);
            o.put("fastest_peer", fastest).put("ratio", ours / best).put("ratio_min", lo).put("ratio_max", hi);
            return o;
        }
    }

    /**
     * Up to {@code limit} bytes of UTF-8 text files from the installed sources, cut at line ends into documents of at
     * most 16 KB (a dictionary file is not one document, and every encoder gets the same pieces).
     */
    static List<String> realText(String home, long limit) throws Exception {
        List<String> docs = new ArrayList<>();
        for (String file : realFiles(home, limit)) {
            int start = 0;
            while (start < file.length()) {
                int end = Math.min(file.length(), start + 16_000);
                int newline = file.lastIndexOf('\n', end - 1);
                if (end < file.length() && newline > start) end = newline + 1;
                docs.add(file.substring(start, end));
                start = end;
            }
        }
        return docs;
    }

    private static List<String> realFiles(String home, long limit) throws Exception {
        List<String> docs = new ArrayList<>();
        long total = 0;
        for (Path source : TEXT_SOURCES) {
            Path dir = source.isAbsolute() ? source : Path.of(home).resolve(source);
            if (!Files.isDirectory(dir)) continue;
            List<Path> files;
            try (Stream<Path> walk = Files.walk(dir)) {
                files = walk.filter(Files::isRegularFile).filter(p -> p.toString().matches(".*\\.(txt|rst|dict|html)$"))
                        .sorted().toList();
            }
            for (Path f : files) {
                byte[] b = Files.readAllBytes(f);
                String text;
                try {
                    text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(b)).toString();
                } catch (java.nio.charset.CharacterCodingException e) {
                    continue; // the benchmark wants text every encoder accepts
                }
                docs.add(text);
                total += b.length;
                if (total >= limit) return docs;
            }
        }
        return docs;
    }
}
