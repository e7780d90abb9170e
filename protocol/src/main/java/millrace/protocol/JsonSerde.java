package millrace.protocol;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;

/**
 * JSON (de)serializer for a protocol record. A malformed payload becomes an {@link InvalidPayloadException} that
 * names the field: the records validate themselves in their constructors, and Jackson's path names the rest.
 */
public final class JsonSerde<T> implements Serializer<T>, Deserializer<T> {
    /** One mapper for the protocol: unknown fields are ignored so that old readers survive new writers. */
    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    private final Class<T> type;

    public JsonSerde(Class<T> type) {
        this.type = type;
    }

    public static JsonSerde<Document> documents() {
        return new JsonSerde<>(Document.class);
    }

    public static JsonSerde<Rejection> rejections() {
        return new JsonSerde<>(Rejection.class);
    }

    public static JsonSerde<DedupClaim> claims() {
        return new JsonSerde<>(DedupClaim.class);
    }

    public static JsonSerde<Checkpoint> checkpoints() {
        return new JsonSerde<>(Checkpoint.class);
    }

    public static JsonSerde<Rating> ratings() {
        return new JsonSerde<>(Rating.class);
    }

    public static JsonSerde<SftExample> sftExamples() {
        return new JsonSerde<>(SftExample.class);
    }

    public static JsonSerde<Rater> raters() {
        return new JsonSerde<>(Rater.class);
    }

    public static JsonSerde<PolicyVersion> policies() {
        return new JsonSerde<>(PolicyVersion.class);
    }

    public byte[] toBytes(T value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new IllegalStateException("cannot serialize " + type.getSimpleName(), e);
        }
    }

    public T fromBytes(byte[] bytes) {
        if (bytes == null) throw new InvalidPayloadException(type.getSimpleName(), "payload is null");
        try {
            return MAPPER.readValue(bytes, type);
        } catch (ValueInstantiationException e) {
            if (e.getCause() instanceof InvalidPayloadException invalid) throw invalid;
            throw new InvalidPayloadException(path(e), e.getOriginalMessage(), e);
        } catch (JsonMappingException e) {
            throw new InvalidPayloadException(path(e), e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new InvalidPayloadException(type.getSimpleName(), "malformed JSON: " + e.getMessage(), e);
        }
    }

    private String path(JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) sb.append(sb.isEmpty() ? "" : ".").append(ref.getFieldName());
            else if (ref.getIndex() >= 0) sb.append('[').append(ref.getIndex()).append(']');
        }
        return sb.isEmpty() ? type.getSimpleName() : sb.toString();
    }

    @Override
    public byte[] serialize(String topic, T data) {
        return data == null ? null : toBytes(data);
    }

    @Override
    public T deserialize(String topic, byte[] data) {
        return data == null ? null : fromBytes(data);
    }

    @Override
    public void configure(java.util.Map<String, ?> configs, boolean isKey) {}

    @Override
    public void close() {}
}
