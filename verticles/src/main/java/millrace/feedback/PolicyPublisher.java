package millrace.feedback;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import millrace.kafka.Acknowledged;
import millrace.kafka.KafkaSettings;
import millrace.protocol.JsonSerde;
import millrace.protocol.PolicyVersion;
import millrace.protocol.Topics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Makes a policy version durable and known: its audit segment, then its checkpoint directory (atomically), then the
 * {@link PolicyVersion} on {@code millrace.policy} (acks=all). A crash between the last two leaves a version on disk
 * that is not announced: the role announces its newest version again when it starts.
 */
final class PolicyPublisher implements AutoCloseable {
    private final PolicyStore store;
    private final FeedbackAudit audit;
    private final KafkaProducer<String, byte[]> producer;

    PolicyPublisher(KafkaSettings kafka, PolicyStore store) {
        this.store = store;
        this.audit = new FeedbackAudit(store.auditDir());
        this.producer = new KafkaProducer<>(kafka.producer("feedback"));
    }

    FeedbackAudit audit() {
        return audit;
    }

    /**
     * Writes {@code policy} as {@code version} and announces it.
     *
     * @param entries what the version did with each rating it consumed
     * @param lineage the base, when the entries are a whole new lineage (a rebuild or rebase); null for one update
     */
    PolicyStore.Meta write(Policy policy, long version, long parent, Map<String, Long> offsets,
            List<FeedbackAudit.Entry> entries, String lineage, Set<String> excludedRaters, String note) throws IOException {
        PolicyStore.Meta meta = new PolicyStore.Meta(store.dir().getFileName().toString(),
                version, parent, policy.base().toAbsolutePath().toString(), policy.trainer().seed(), offsets,
                policy.updates(), policy.ratingsApplied(), policy.metrics(), policy.baseMetrics(), excludedRaters,
                policy.settings(), policy.text().validationRefs(), policy.text().pretrainingRefs(), note,
                System.currentTimeMillis());
        audit.write(version, entries, lineage);
        Path dir = store.write(policy.trainer(), policy.checkpointMeta(version), meta);
        announce(dir, meta);
        return meta;
    }

    /** Puts a written version's {@link PolicyVersion} on the topic (again, if it was there: the topic is compacted). */
    void announce(Path dir, PolicyStore.Meta meta) {
        PolicyVersion record = new PolicyVersion(meta.model(), meta.version(), meta.parent(), dir.toAbsolutePath().toString(),
                meta.base(), meta.ratingsApplied(), meta.offsets(), meta.metrics(), meta.note(), meta.createdAtMillis());
        Acknowledged.await(producer.send(new ProducerRecord<>(Topics.POLICY, meta.model(), JsonSerde.policies().toBytes(record))),
                "policy version " + meta.version());
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
