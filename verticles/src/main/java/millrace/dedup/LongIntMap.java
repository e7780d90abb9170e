package millrace.dedup;

import java.util.Arrays;

/**
 * An open-addressing map from long keys to non-negative int values: 12 bytes per slot, no boxing. The LSH band
 * tables hold one entry per kept document per band, so this is most of the index's memory.
 */
final class LongIntMap {
    private static final int EMPTY = -1;
    private long[] keys;
    private int[] values;
    private int size;

    LongIntMap() {
        keys = new long[16];
        values = new int[16];
        Arrays.fill(values, EMPTY);
    }

    /** The value for {@code key}, or -1. */
    int get(long key) {
        int mask = keys.length - 1;
        for (int i = slot(key, mask); ; i = (i + 1) & mask) {
            if (values[i] == EMPTY) return EMPTY;
            if (keys[i] == key) return values[i];
        }
    }

    /** Sets {@code key} to {@code value} (>= 0). */
    void put(long key, int value) {
        if (value < 0) throw new IllegalArgumentException("values must be >= 0");
        if ((size + 1) * 4 > keys.length * 3) grow();
        int mask = keys.length - 1;
        for (int i = slot(key, mask); ; i = (i + 1) & mask) {
            if (values[i] == EMPTY) {
                keys[i] = key;
                values[i] = value;
                size++;
                return;
            }
            if (keys[i] == key) {
                values[i] = value;
                return;
            }
        }
    }

    int size() {
        return size;
    }

    long bytes() {
        return keys.length * 12L;
    }

    private static int slot(long key, int mask) {
        return (int) MinHasher.mix64(key) & mask;
    }

    private void grow() {
        long[] oldKeys = keys;
        int[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new int[oldKeys.length * 2];
        Arrays.fill(values, EMPTY);
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) if (oldValues[i] != EMPTY) put(oldKeys[i], oldValues[i]);
    }
}
