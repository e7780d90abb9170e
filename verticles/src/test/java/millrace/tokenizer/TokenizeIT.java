package millrace.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TestKafka;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The tokenize stage, crashed again and again: no token lost, none duplicated, every shard of one tokenizer. */
class TokenizeIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(3);

    @Test
    void restartsNeitherLoseNorDuplicateATokenAndEveryShardIsExact() throws Exception {
        // 60 documents of real text: verses of Ruth, a few lines each
        List<String> lines = Files.readAllLines(Path.of("../corpus/kjv/08-Ruth.txt"));
        KafkaSettings settings = kafka.settings("tokenize-it");
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(settings.producer("test"))) {
            for (int i = 0; i < 60; i++) {
                String text = String.join("\n", lines.subList(i, Math.min(lines.size(), i + 1 + i % 4)));
                Document d = new Document("doc-" + i, "ruth#" + i, "", text, "text/plain", null, 1000 + i, Map.of(), null);
                p.send(new ProducerRecord<>(Topics.DOCS_CLEAN, d.id(), JsonSerde.documents().toBytes(d)));
            }
        }
        TokenizeSettings ts = new TokenizeSettings("r50k_base", 15, 2, 0.3, 0);

        // what should have been shipped: per input partition and split, every document's tokens + <|endoftext|>
        TextTokenizer tok = Vocabularies.builtin("r50k");
        Map<String, List<Integer>> expected = new HashMap<>();
        List<ConsumerRecord<String, byte[]>> input = new ArrayList<>(kafka.records(Topics.DOCS_CLEAN));
        input.sort(Comparator.comparingLong(ConsumerRecord::offset));
        for (ConsumerRecord<String, byte[]> r : input) {
            Document d = JsonSerde.documents().fromBytes(r.value());
            String stream = "p" + r.partition() + "-" + Splits.of(d.id(), ts.validationShare()).label();
            List<Integer> tokens = expected.computeIfAbsent(stream, k -> new ArrayList<>());
            for (int t : tok.encode(d.text())) tokens.add(t);
            tokens.add(tok.endOfText());
        }
        int expectedTotal = expected.values().stream().mapToInt(l -> l.size() / 16 * 16).sum();
        Random random = new Random(42);
        int lives = 0;
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (shippedTokens() < expectedTotal) {
            assertTrue(System.nanoTime() < deadline, "tokenize did not finish: " + shippedTokens() + " of " + expectedTotal);
            lives++;
            // each life runs until it has shipped something, a few batches more, and then "crashes" between two
            // transactions: whatever its packers held is simply gone
            try (TokenizeVerticle.TokenizeWorker worker = new TokenizeVerticle.TokenizeWorker(settings, ts, 5)) {
                int extra = random.nextInt(3);
                for (int s = 0; s < 100 && (worker.shardsShipped() == 0 || extra > 0); s++) {
                    if (worker.poll() > 0 && worker.shardsShipped() > 0) extra--;
                }
            }
        }
        // one more life that runs a while: it must find nothing left to ship
        try (TokenizeVerticle.TokenizeWorker worker = new TokenizeVerticle.TokenizeWorker(settings, ts, 5)) {
            for (int s = 0; s < 15; s++) worker.step();
        }
        assertTrue(lives > 3, "expected several restarts, got " + lives);

        // what was shipped, put back in stream order by the shard ids (p<partition>-<split>-<offset>+<skip>)
        Map<String, List<TokenShard>> shipped = new HashMap<>();
        for (TokenShard s : kafka.read(Topics.SHARDS, TokenShardCodec::decode)) {
            assertEquals(tok.id(), s.tokenizerId());
            assertEquals(15, s.seqLen());
            shipped.computeIfAbsent(s.id().substring(0, s.id().lastIndexOf('-', s.id().indexOf('+'))), k -> new ArrayList<>())
                    .add(s);
        }
        assertTrue(expected.keySet().stream().anyMatch(k -> k.endsWith(Split.VAL.label())), "no validation documents");
        for (Map.Entry<String, List<Integer>> e : expected.entrySet()) {
            List<TokenShard> shards = shipped.getOrDefault(e.getKey(), List.of()).stream()
                    .sorted(Comparator.comparingLong((TokenShard s) -> position(s)[0]).thenComparingLong(s -> position(s)[1]))
                    .toList();
            List<Integer> got = new ArrayList<>();
            for (TokenShard s : shards) for (int t : s.tokens()) got.add(t);
            int whole = e.getValue().size() / 16 * 16;
            assertEquals(whole, got.size(), "tokens shipped in stream " + e.getKey() + " of " + shipped.keySet());
            assertTrue(e.getValue().subList(0, whole).equals(got), "token order in stream " + e.getKey());
        }
    }

    private static int shippedTokens() {
        return kafka.read(Topics.SHARDS, TokenShardCodec::decode).stream().mapToInt(t -> t.tokens().length).sum();
    }

    private static long[] position(TokenShard s) {
        String tail = s.id().substring(s.id().lastIndexOf('-') + 1);
        String[] parts = tail.split("\\+");
        return new long[] {Long.parseLong(parts[0]), Long.parseLong(parts[1])};
    }
}
