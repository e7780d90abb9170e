package millrace.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import millrace.Platform;
import millrace.PlatformConfig;
import millrace.Role;
import millrace.dedup.DedupSettings;
import millrace.feedback.FeedbackSettings;
import millrace.ingest.IngestSettings;
import millrace.kafka.EmbeddedKafka;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicSetup;
import millrace.metrics.Metrics;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.TokenizeSettings;
import millrace.tokenizer.Vocabularies;
import millrace.train.CheckpointStore;
import millrace.train.TrainSettings;
import millrace.web.WebSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench pipeline}: real text as JSON-lines files on disk, through ingest, dedup and tokenize (one replica each,
 * in this process) and the embedded broker, to shards on {@code millrace.shards}: documents and MB/s per stage and end
 * to end, tokens/s into shards, and each stage's consumer lag over time; then whether that rate keeps a GPU trainer of
 * {@code gpt2-124m} fed.
 */
@Command(name = "pipeline", mixinStandardHelpOptions = true,
        description = "Files on disk to shards on the topic through ingest, dedup and tokenize and the real broker: "
                + "documents and MB/s per stage and end to end, tokens/s into shards, consumer lag over time.")
final class PipelineBench implements Callable<Integer> {
    @Option(names = "--mb", defaultValue = "40", description = "MB of real text to stream (default: ${DEFAULT-VALUE}).")
    int mb;

    @Option(names = "--trainer-tokens-per-s", defaultValue = "384000",
            description = "What a GPU trainer of gpt2-124m takes in (default: ${DEFAULT-VALUE}, the issue's figure for one H200; "
                    + "bench train measured Millrace's bf16 trainer there at about 221,000 and compiled PyTorch at about 430,000).")
    double trainerTokensPerSecond;

    @Option(names = "--json", description = "End with one JSON line.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        String home = System.getenv().getOrDefault("MILLRACE_HOME", ".");
        Path dir = Files.createTempDirectory("millrace-bench-pipeline-");
        EmbeddedKafka broker = new EmbeddedKafka(dir.resolve("kafka"), 0).start();
        Platform platform = null;
        try {
            List<String> docs = BenchCommand.realText(home, mb * 1_000_000L);
            Path corpus = Files.createDirectories(dir.resolve("corpus"));
            long bytes = 0;
            try (var w = Files.newBufferedWriter(corpus.resolve("text.jsonl"), StandardCharsets.UTF_8)) {
                for (String d : docs) {
                    w.write(JsonSerde.MAPPER.writeValueAsString(Map.of("text", d)));
                    w.write('\n');
                    bytes += d.getBytes(StandardCharsets.UTF_8).length;
                }
            }
            int cores = Runtime.getRuntime().availableProcessors();
            System.out.printf("%d documents, %.1f MB of real text; %d cores; ingest, dedup and tokenize, one replica each%n",
                    docs.size(), bytes / 1e6, cores);
            KafkaSettings kafka = new KafkaSettings(broker.bootstrapServers(), "bench-pipeline");
            TopicSetup.ensureTopics(kafka, PlatformOptions.DEFAULT_PARTITIONS, TopicSetup.AUTO_REPLICATION);
            int vocab = Vocabularies.builtin("r50k").vocabSize();
            PlatformConfig config = new PlatformConfig(kafka, dir, IngestSettings.of(List.of(corpus.toString())),
                    PlatformOptions.DEFAULT_PARTITIONS, 0, 0, DedupSettings.DEFAULT,
                    new TokenizeSettings("r50k", 1024, 16, 0.01, 2000), TrainSettings.tinyDemo("r50k", vocab, 1024),
                    WebSettings.defaults("bench"), FeedbackSettings.defaults("bench"));
            long start = System.nanoTime();
            platform = Platform.start(EnumSet.of(Role.INGEST, Role.DEDUP, Role.TOKENIZE), config);

            // every second: what each stage has done, and its lag; done when tokenize has judged everything dedup kept
            double[] doneAt = new double[3];
            ArrayNode timeline = JsonSerde.MAPPER.createArrayNode();
            double ingested = 0, judged = 0, kept = 0, tokenized = 0, tokens = 0;
            int stable = 0;
            double last = -1;
            while (stable < 5) {
                Thread.sleep(1000);
                String m = Metrics.scrape();
                double t = (System.nanoTime() - start) / 1e9;
                ingested = Metrics.sum(m, "millrace_ingest_documents_total", "") + Metrics.sum(m, "millrace_ingest_rejected_total", "");
                judged = Metrics.sum(m, "millrace_dedup_documents_total", "");
                kept = Metrics.sum(m, "millrace_dedup_documents_total", "verdict=\"kept\"");
                tokenized = Metrics.sum(m, "millrace_tokenize_documents_total", "");
                tokens = Metrics.sum(m, "millrace_tokenize_tokens_total", "");
                double dedupLag = Metrics.sum(m, "millrace_kafka_consumer_lag_records", "stage=\"dedup\"");
                double tokenizeLag = Metrics.sum(m, "millrace_kafka_consumer_lag_records", "stage=\"tokenize\"");
                if (doneAt[0] == 0 && ingested >= docs.size()) doneAt[0] = t;
                if (doneAt[0] > 0 && doneAt[1] == 0 && judged >= Metrics.sum(m, "millrace_ingest_documents_total", "")) doneAt[1] = t;
                if (doneAt[1] > 0 && tokenized >= kept) doneAt[2] = doneAt[2] == 0 ? t : doneAt[2];
                if ((int) t % 5 == 0) {
                    timeline.addObject().put("s", Math.round(t)).put("dedup_lag", dedupLag).put("tokenize_lag", tokenizeLag)
                            .put("ingested", ingested).put("judged", judged).put("tokenized", tokenized);
                }
                double progress = ingested + judged + tokenized;
                stable = doneAt[2] > 0 && progress == last ? stable + 1 : 0;
                last = progress;
                if (t > 3600) throw new IllegalStateException("the pipeline did not drain within an hour");
            }
            double endToEnd = doneAt[2];
            ObjectNode o = JsonSerde.MAPPER.createObjectNode().put("documents", docs.size()).put("mb", bytes / 1e6).put("cores", cores);
            String[] stages = {"ingest", "dedup", "tokenize"};
            double[] counts = {ingested, judged, tokenized};
            for (int i = 0; i < 3; i++) {
                double s = doneAt[i];
                o.putObject(stages[i]).put("documents", counts[i]).put("seconds", s).put("documents_per_s", counts[i] / s)
                        .put("mb_per_s", bytes / 1e6 / s);
                System.out.printf("%-8s done after %5.1f s: %,.0f documents, %,.0f docs/s, %.2f MB/s of input%n", stages[i], s,
                        counts[i], counts[i] / s, bytes / 1e6 / s);
            }
            double tokensPerSecond = tokens / endToEnd;
            o.put("kept", kept).put("tokens", tokens).put("end_to_end_seconds", endToEnd).put("end_to_end_mb_per_s", bytes / 1e6 / endToEnd)
                    .put("shard_tokens_per_s", tokensPerSecond).put("trainer_tokens_per_s", trainerTokensPerSecond)
                    .put("keeps_trainer_fed", tokensPerSecond >= trainerTokensPerSecond);
            o.set("lag_every_5_s", timeline);
            System.out.printf("end to end: %.1f MB in %.1f s (%.2f MB/s); %,.0f of %,d documents kept; %,.0f tokens into shards, "
                    + "%,.0f tokens/s: %.2fx what a gpt2-124m trainer takes in at %,.0f tokens/s%n", bytes / 1e6, endToEnd,
                    bytes / 1e6 / endToEnd, kept, docs.size(), tokens, tokensPerSecond, tokensPerSecond / trainerTokensPerSecond,
                    trainerTokensPerSecond);
            if (json) System.out.println(JsonSerde.MAPPER.writeValueAsString(o));
            return 0;
        } finally {
            if (platform != null) platform.close();
            broker.close();
            CheckpointStore.deleteTree(dir);
        }
    }
}
