package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import millrace.protocol.JsonSerde;

/**
 * The safetensors format, read and written here rather than through DJL, which cannot turn bf16 into fp32 and writes
 * no {@code __metadata__}: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
 * byte range, then the data. Reading maps the file and converts one tensor at a time (fp32, fp16 or bf16 as stored)
 * into fp32, the precision Millrace keeps its weights in; a directory's weights are one {@code model.safetensors} or
 * the shards a {@code model.safetensors.index.json} names. Writing is fp32 with {@code {"format": "pt"}}, as
 * transformers' {@code save_pretrained} writes it.
 */
public final class Safetensors {
    /** A header larger than this is not a header (transformers' and the reference reader's limit is 100 MB). */
    private static final long MAX_HEADER = 100L << 20;

    private Safetensors() {}

    /** One tensor of a file: where its bytes are, and what they hold. */
    public record Tensor(String name, String dtype, long[] shape, Path file, long offset, long bytes) {
        public long size() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        /**
         * Its values as fp32 in a direct buffer in the platform's order, to copy from at once: fp32 itself, mapped from
         * the file; fp16 and bf16 converted into {@code scratch} when it is large enough, else into a new buffer (the
         * caller keeps the larger one for the next tensor).
         */
        public ByteBuffer toFloat32(ByteBuffer scratch) throws IOException {
            long n = size();
            if (4 * n > Integer.MAX_VALUE) throw new IOException(file + ": tensor " + name + " is too large for one array (" + n + " values)");
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                ByteBuffer in = channel.map(FileChannel.MapMode.READ_ONLY, offset, bytes).order(ByteOrder.LITTLE_ENDIAN);
                if (dtype.equals("F32") && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) return in;
                ByteBuffer out = scratch != null && scratch.capacity() >= 4 * n ? scratch.clear()
                        : ByteBuffer.allocateDirect((int) (4 * n));
                out.order(ByteOrder.nativeOrder()).limit((int) (4 * n));
                switch (dtype) {
                    case "F32" -> out.asFloatBuffer().put(in.asFloatBuffer());
                    case "BF16" -> {
                        for (long i = 0; i < n; i++) out.putFloat(Float.intBitsToFloat((in.getShort() & 0xFFFF) << 16));
                    }
                    case "F16" -> {
                        for (long i = 0; i < n; i++) out.putFloat(halfToFloat(in.getShort()));
                    }
                    default -> throw new IOException(file + ": tensor " + name + " is " + dtype + " (F32, F16 and BF16 are read)");
                }
                return out.rewind();
            }
        }
    }

    /** IEEE 754 half precision to single (Java 17 has no {@code Float.float16ToFloat}). */
    static float halfToFloat(short h) {
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F) return Float.intBitsToFloat(sign | 0x7F800000 | mantissa << 13); // inf, NaN
        if (exponent == 0) {
            if (mantissa == 0) return Float.intBitsToFloat(sign);
            // subnormal: the value is mantissa · 2^-24
            float f = mantissa * 0x1p-24f;
            return sign == 0 ? f : -f;
        }
        return Float.intBitsToFloat(sign | (exponent + 112) << 23 | mantissa << 13);
    }

    private static int width(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
            default -> -1;
        };
    }

    /** The tensors of one file, by name, in the header's order; their data is read when asked for. */
    public static Map<String, Tensor> read(Path file) throws IOException {
        long size = Files.size(file);
        JsonNode header;
        long dataStart;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            if (size < 8 || channel.read(length, 0) != 8) throw new IOException(file + ": not a safetensors file (shorter than its header length)");
            long n = length.getLong(0);
            if (n < 2 || n > MAX_HEADER || 8 + n > size) {
                throw new IOException(file + ": not a safetensors file (header length " + n + " in a file of " + size + " bytes)");
            }
            ByteBuffer json = ByteBuffer.allocate((int) n);
            channel.read(json, 8);
            try {
                header = JsonSerde.MAPPER.readTree(new String(json.array(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new IOException(file + ": its safetensors header is not JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
            }
            dataStart = 8 + n;
        }
        if (header == null || !header.isObject()) throw new IOException(file + ": its safetensors header is not a JSON object");
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) continue;
            JsonNode t = e.getValue();
            String dtype = t.path("dtype").asText();
            JsonNode shapeNode = t.path("shape");
            JsonNode offsets = t.path("data_offsets");
            if (width(dtype) < 0 || !shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
                throw new IOException(file + ": tensor " + e.getKey() + " has no valid dtype, shape and data_offsets in the header");
            }
            long[] shape = new long[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) shape[i] = shapeNode.get(i).asLong();
            long begin = offsets.get(0).asLong();
            long end = offsets.get(1).asLong();
            Tensor tensor = new Tensor(e.getKey(), dtype, shape, file, dataStart + begin, end - begin);
            if (begin < 0 || end < begin || dataStart + end > size) {
                throw new IOException(file + ": tensor " + e.getKey() + " lies past the end of the file (truncated?)");
            }
            if (tensor.size() * width(dtype) != end - begin) {
                throw new IOException(file + ": tensor " + e.getKey() + " has " + (end - begin) + " bytes for shape "
                        + java.util.Arrays.toString(shape) + " of " + dtype);
            }
            out.put(e.getKey(), tensor);
        }
        return out;
    }

    /**
     * The weights of a Hugging Face model directory: {@code model.safetensors}, or every shard its
     * {@code model.safetensors.index.json} names (each tensor where the index says it is).
     */
    public static Map<String, Tensor> readDirectory(Path dir) throws IOException {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(index)) {
            JsonNode map = JsonSerde.MAPPER.readTree(index.toFile()).path("weight_map");
            if (!map.isObject()) throw new IOException(index + ": no weight_map");
            Map<String, Map<String, Tensor>> shards = new LinkedHashMap<>();
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String shard = e.getValue().asText();
                if (shard.contains("/") || shard.contains("\\")) throw new IOException(index + ": shard " + shard + " is not a file beside it");
                Path shardFile = dir.resolve(shard);
                if (!Files.isRegularFile(shardFile)) throw new IOException(index + ": shard " + shard + " is missing");
                Map<String, Tensor> tensors = shards.get(shard);
                if (tensors == null) {
                    tensors = read(shardFile);
                    shards.put(shard, tensors);
                }
                Tensor t = tensors.get(e.getKey());
                if (t == null) throw new IOException(shardFile + ": has no tensor " + e.getKey() + " (the index says it does)");
                out.put(e.getKey(), t);
            }
            return out;
        }
        if (Files.isRegularFile(single)) return read(single);
        throw new IOException(dir + ": no model.safetensors or model.safetensors.index.json (Millrace reads safetensors weights only)");
    }

    /** Writes {@code tensors} (fp32) as one safetensors file, in the map's order. */
    public static void write(OutputStream out, Map<String, NDArray> tensors) throws IOException {
        ObjectNode header = JsonSerde.MAPPER.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long at = 0;
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
            NDArray a = e.getValue();
            if (a.getDataType() != DataType.FLOAT32) throw new IllegalArgumentException(e.getKey() + " is not fp32");
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", "F32");
            var shape = t.putArray("shape");
            for (long d : a.getShape().getShape()) shape.add(d);
            long bytes = 4 * a.size();
            t.putArray("data_offsets").add(at).add(at + bytes);
            at += bytes;
        }
        byte[] json = JsonSerde.MAPPER.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8; // the data begins 8-byte aligned, the header padded with spaces
        ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
        out.write(length.array());
        out.write(json);
        for (int i = json.length; i < padded; i++) out.write(' ');
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) throw new IllegalStateException("a big-endian platform");
        byte[] chunk = new byte[1 << 20];
        for (NDArray a : tensors.values()) {
            // a few rows at a time: a copy of the whole tensor (a 1B model's embedding is 1 GB) would double its memory
            long rows = a.getShape().dimension() < 2 ? 1 : a.getShape().get(0);
            long perRow = a.size() / Math.max(1, rows);
            long step = Math.max(1, (4L << 20) / (4 * Math.max(1, perRow)));
            for (long from = 0; from < rows; from += step) {
                try (NDArray slice = a.getShape().dimension() < 2 ? a.duplicate() : a.get(from + ":" + Math.min(rows, from + step))) {
                    ByteBuffer data = slice.toByteBuffer().order(ByteOrder.nativeOrder());
                    while (data.hasRemaining()) {
                        int n = Math.min(chunk.length, data.remaining());
                        data.get(chunk, 0, n);
                        out.write(chunk, 0, n);
                    }
                }
            }
        }
    }
}
