package millrace.cli;

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
        subcommands = {BenchCommand.TokenizerBench.class, DedupBench.class, ExtractBench.class, TrainBench.class, ArenaBench.class, FeedbackBench.class, SftBench.class, FaultBench.class})
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
            description = "Encode throughput of Millrace, JTokkit and Hugging Face tokenizers (DJL) on the same text "
                    + "and vocabulary, asserting identical ids; and BPE training time for a 32k vocabulary.")
    static final class TokenizerBench implements Callable<Integer> {
        @Option(names = "--vocab", defaultValue = "cl100k", description = "r50k, cl100k or o200k (default: ${DEFAULT-VALUE}).")
        String vocab;

        @Option(names = "--encode-mb", defaultValue = "20", description = "MB of text to encode (default: ${DEFAULT-VALUE}).")
        int encodeMb;

        @Option(names = "--train-mb", defaultValue = "100", description = "MB of text to train on; 0 skips training (default: ${DEFAULT-VALUE}).")
        int trainMb;

        @Option(names = "--train-vocab", defaultValue = "32000", description = "Vocabulary to train (default: ${DEFAULT-VALUE}).")
        int trainVocab;

        @Option(names = "--rounds", defaultValue = "3", description = "Timed rounds per encoder, best kept (default: ${DEFAULT-VALUE}).")
        int rounds;

        @Override
        public Integer call() throws Exception {
            String home = System.getenv().getOrDefault("MILLRACE_HOME", ".");
            List<String> docs = realText(home, encodeMb * 1_000_000L);
            long bytes = docs.stream().mapToLong(d -> d.getBytes(StandardCharsets.UTF_8).length).sum();
            int cores = Runtime.getRuntime().availableProcessors();
            System.out.printf("text: %d documents, %.1f MB of real text; %d cores%n", docs.size(), bytes / 1e6, cores);

            ByteLevelBpe millrace = Vocabularies.builtin(vocab);
            Encoding jtokkit = Encodings.newDefaultEncodingRegistry().getEncoding(switch (vocab) {
                case "r50k" -> EncodingType.R50K_BASE;
                case "cl100k" -> EncodingType.CL100K_BASE;
                case "o200k" -> EncodingType.O200K_BASE;
                default -> throw new IllegalArgumentException("--vocab: r50k, cl100k or o200k");
            });
            Path json = Files.createTempFile("millrace-bench-", ".json");
            Vocabularies.writeHuggingFace(millrace, json);
            try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder().optTokenizerPath(json)
                    .optAddSpecialTokens(false).optTruncation(false).build()) {
                // same ids, or the throughput means nothing (special-token strings are left out: HF always parses them)
                for (String d : docs) {
                    int[] ours = millrace.encode(d);
                    if (!Arrays.equals(ours, jtokkit.encodeOrdinary(d).toArray())) throw new AssertionError("JTokkit differs");
                    if (!d.contains("<|") && !Arrays.equals(Arrays.stream(ours).asLongStream().toArray(),
                            hf.encode(d, false, false).getIds())) {
                        throw new AssertionError("Hugging Face tokenizers differs");
                    }
                }
                System.out.println("ids: identical for Millrace, JTokkit and Hugging Face tokenizers on every document");
                double m1 = throughput(docs, bytes, 1, millrace::encode);
                double j1 = throughput(docs, bytes, 1, d -> jtokkit.encodeOrdinary(d).toArray());
                double h1 = throughput(docs, bytes, 1, d -> hf.encode(d, false, false).getIds());
                double mN = throughput(docs, bytes, cores, millrace::encode);
                double jN = throughput(docs, bytes, cores, d -> jtokkit.encodeOrdinary(d).toArray());
                double hN = throughput(docs, bytes, cores, d -> hf.encode(d, false, false).getIds());
                System.out.printf("encode %s, 1 thread:  Millrace %.1f MB/s, JTokkit %.1f MB/s, HF tokenizers %.1f MB/s"
                        + " -> Millrace/JTokkit %.2fx, Millrace/HF %.2fx%n", vocab, m1, j1, h1, m1 / j1, m1 / h1);
                System.out.printf("encode %s, %d threads: Millrace %.1f MB/s, JTokkit %.1f MB/s, HF tokenizers %.1f MB/s"
                        + " -> Millrace/JTokkit %.2fx, Millrace/HF %.2fx%n", vocab, cores, mN, jN, hN, mN / jN, mN / hN);
            } finally {
                Files.deleteIfExists(json);
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

        private double throughput(List<String> docs, long bytes, int threads, Function<String, Object> encode)
                throws Exception {
            double best = 0;
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
                    double mbs = bytes / 1e6 / ((System.nanoTime() - started) / 1e9);
                    if (round > 0) best = Math.max(best, mbs);
                }
            } finally {
                pool.shutdown();
            }
            return best;
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
