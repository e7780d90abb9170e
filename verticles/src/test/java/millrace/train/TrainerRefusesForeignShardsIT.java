package millrace.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import millrace.kafka.TestKafka;
import millrace.metrics.Metrics;
import millrace.model.Gpt2Config;
import millrace.protocol.ShardDoc;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import millrace.tokenizer.Vocabularies;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The trainer takes shards of its own tokenizer only, and trains on them. */
class TrainerRefusesForeignShardsIT {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass(1);

    @TempDir
    Path dir;

    @Test
    void shardsOfAnotherTokenizerAreRefusedAndCounted() throws Exception {
        String r50k = Vocabularies.builtin("r50k").id();
        int[] tokens = new int[9 * 8];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (i * 31) % 50000;
        try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(kafka.settings("t").producer("test"))) {
            for (String tokenizer : List.of("bpe-000000000000", r50k)) {
                TokenShard s = new TokenShard("s-" + tokenizer, tokenizer, 8, Split.TRAIN, List.of(new ShardDoc("d", 1)), tokens);
                p.send(new ProducerRecord<>(Topics.SHARDS, s.id(), TokenShardCodec.encode(s)));
            }
        }
        double refusedBefore = Metrics.TRAIN_SHARDS.labelValues("refused_tokenizer").get();
        double acceptedBefore = Metrics.TRAIN_SHARDS.labelValues("accepted").get();
        TrainSettings demo = TrainSettings.tinyDemo("r50k", 50257, 8);
        TrainSettings settings = new TrainSettings("m", Gpt2Config.tiny(50257, 8), "r50k", 8, demo.schedule(),
                demo.clipNorm(), demo.adam(), 1, 3600, 2, 0);
        try (TrainWorker worker = new TrainWorker(kafka.settings("t"), settings, dir)) {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (Metrics.TRAIN_SHARDS.labelValues("accepted").get() == acceptedBefore
                    || Metrics.TRAIN_SHARDS.labelValues("refused_tokenizer").get() == refusedBefore) {
                assertTrue(System.nanoTime() < deadline, "the trainer did not read both shards");
                worker.step();
            }
        }
        assertEquals(1, Metrics.TRAIN_SHARDS.labelValues("refused_tokenizer").get() - refusedBefore);
        assertEquals(1, Metrics.TRAIN_SHARDS.labelValues("accepted").get() - acceptedBefore);
    }
}
