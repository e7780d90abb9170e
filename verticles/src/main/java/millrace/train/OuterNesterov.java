package millrace.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * DiLoCo's outer optimizer: the weights a round began at, and Nesterov momentum over the rounds' mean
 * pseudo-gradients, exactly as PyTorch's {@code SGD(nesterov=True)} that the paper uses:
 *
 * <pre>
 * v ← μ·v + Δ        θ ← θ − lr·(Δ + μ·v)
 * </pre>
 *
 * Plain Java floats, element by element in one order: every replica that applies the same pseudo-gradients to the
 * same state holds the same bits after it, on any CPU (Java never fuses a multiply and an add).
 */
final class OuterNesterov {
    private static final int MAGIC = 0x4d524f4e; // "MRON"

    private final float[] weights;
    private final float[] momentum;
    private final float lr;
    private final float mu;
    /** {@link #digest(float[])} of the weights, which change only in {@link #step}. */
    private long digest;

    /** Starts at {@code weights} (kept, not copied) with zero momentum. */
    OuterNesterov(float[] weights, float lr, float momentum) {
        this(weights, new float[weights.length], lr, momentum);
    }

    private OuterNesterov(float[] weights, float[] momentum, float lr, float mu) {
        this.weights = weights;
        this.momentum = momentum;
        this.lr = lr;
        this.mu = mu;
        this.digest = digest(weights);
    }

    /** The weights the current round began at (its replicas' pseudo-gradients are measured from them). */
    float[] weights() {
        return weights;
    }

    int size() {
        return weights.length;
    }

    /** One outer step with the mean pseudo-gradient {@code delta}. */
    void step(float[] delta) {
        for (int i = 0; i < weights.length; i++) {
            float v = mu * momentum[i] + delta[i];
            momentum[i] = v;
            weights[i] = weights[i] - lr * (delta[i] + mu * v);
        }
        digest = digest(weights);
    }

    /** A 64-bit digest of the weights' bits: replicas whose rounds began elsewhere are told apart. */
    long digest() {
        return digest;
    }

    static long digest(float[] values) {
        long h = 0x9E3779B97F4A7C15L ^ values.length;
        for (float f : values) {
            h = (h ^ Float.floatToRawIntBits(f)) * 0xBF58476D1CE4E5B9L;
            h ^= h >>> 29;
        }
        return h;
    }

    /** Writes the weights and the momentum (little-endian floats after a small header). */
    void write(Path file) throws IOException {
        try (FileChannel c = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
            header.putInt(MAGIC).putLong(weights.length).flip();
            c.write(header);
            writeFloats(c, weights);
            writeFloats(c, momentum);
        }
    }

    /** The state {@link #write} wrote, with these hyper-parameters; refused when its size is not {@code size}. */
    static OuterNesterov read(Path file, int size, float lr, float momentum) throws IOException {
        try (FileChannel c = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
            while (header.hasRemaining() && c.read(header) >= 0) { }
            header.flip();
            if (header.remaining() < 12 || header.getInt() != MAGIC) throw new IOException(file + " is not an outer optimizer state");
            long n = header.getLong();
            if (n != size) throw new IOException(file + " holds " + n + " weights; the model has " + size);
            float[] w = readFloats(c, size, file);
            float[] v = readFloats(c, size, file);
            return new OuterNesterov(w, v, lr, momentum);
        }
    }

    private static void writeFloats(FileChannel c, float[] values) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; ) {
            b.clear();
            int n = Math.min(values.length - i, b.capacity() / 4);
            b.asFloatBuffer().put(values, i, n);
            b.limit(n * 4);
            while (b.hasRemaining()) c.write(b);
            i += n;
        }
    }

    private static float[] readFloats(FileChannel c, int size, Path file) throws IOException {
        float[] out = new float[size];
        ByteBuffer b = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < size; ) {
            b.clear();
            b.limit(Math.min(b.capacity(), (size - i) * 4));
            while (b.hasRemaining()) {
                if (c.read(b) < 0) throw new IOException(file + " is cut short");
            }
            b.flip();
            int n = b.remaining() / 4;
            b.asFloatBuffer().get(out, i, n);
            i += n;
        }
        return out;
    }
}
