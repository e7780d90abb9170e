package millrace.kafka;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Waits for a record the broker must have before a command or a role goes on (our producers send with acks=all): its
 * metadata once every in-sync replica has it, or an exception that says which record Kafka did not take.
 */
public final class Acknowledged {
    private static final long SECONDS = 30;

    private Acknowledged() {}

    /** @param what the record, for the message ("policy version 7") */
    public static RecordMetadata await(Future<RecordMetadata> sent, String what) {
        try {
            return sent.get(SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException("Kafka did not take " + what + ": " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("Kafka did not acknowledge " + what + " within " + SECONDS + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
