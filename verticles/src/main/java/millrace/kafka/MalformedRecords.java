package millrace.kafka;

import millrace.protocol.InvalidPayloadException;
import millrace.protocol.RejectReason;
import millrace.protocol.Rejection;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** A record that is not a valid payload is never dropped silently: it becomes a rejection naming where it was. */
public final class MalformedRecords {
    private MalformedRecords() {}

    public static Rejection rejection(ConsumerRecord<String, byte[]> record, String stage, InvalidPayloadException e) {
        String where = record.topic() + "/" + record.partition() + "@" + record.offset();
        String id = record.key() != null ? record.key() : where;
        return new Rejection(id, where, stage, RejectReason.MALFORMED, e.getMessage(), null, System.currentTimeMillis());
    }
}
