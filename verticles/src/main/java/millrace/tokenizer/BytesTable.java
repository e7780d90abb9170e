package millrace.tokenizer;

import java.util.Arrays;

/**
 * An open-addressing hash table from byte strings to ints, looked up by a slice of a byte array without allocating:
 * the BPE hot loop asks "what is the rank of these bytes?" millions of times per second.
 */
final class BytesTable {
    private static final int EMPTY = -1;

    private byte[] data = new byte[1 << 16];
    private int dataLength;
    private int[] offsets;
    private int[] lengths;
    private int[] values;
    private int[] hashes;
    private int size;
    private int mask;

    BytesTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
        offsets = new int[capacity];
        lengths = new int[capacity];
        values = new int[capacity];
        hashes = new int[capacity];
        Arrays.fill(offsets, EMPTY);
        mask = capacity - 1;
    }

    static int hash(byte[] b, int off, int len) {
        int h = 0x811c9dc5 ^ len;
        for (int i = off; i < off + len; i++) h = (h ^ (b[i] & 0xFF)) * 0x01000193;
        return h ^ (h >>> 15);
    }

    /** The value of {@code b[off, off + len)}, or -1. */
    int get(byte[] b, int off, int len) {
        int h = hash(b, off, len);
        for (int slot = h & mask; ; slot = (slot + 1) & mask) {
            int o = offsets[slot];
            if (o == EMPTY) return -1;
            if (hashes[slot] == h && lengths[slot] == len && Arrays.equals(data, o, o + len, b, off, off + len)) {
                return values[slot];
            }
        }
    }

    void put(byte[] key, int value) {
        if (get(key, 0, key.length) >= 0) throw new IllegalArgumentException("duplicate token " + Arrays.toString(key));
        if ((size + 1) * 2 > offsets.length) grow();
        if (dataLength + key.length > data.length) data = Arrays.copyOf(data, Math.max(data.length * 2, dataLength + key.length));
        System.arraycopy(key, 0, data, dataLength, key.length);
        insert(dataLength, key.length, value, hash(key, 0, key.length));
        dataLength += key.length;
        size++;
    }

    private void insert(int offset, int length, int value, int h) {
        int slot = h & mask;
        while (offsets[slot] != EMPTY) slot = (slot + 1) & mask;
        offsets[slot] = offset;
        lengths[slot] = length;
        values[slot] = value;
        hashes[slot] = h;
    }

    private void grow() {
        int[] oldOffsets = offsets, oldLengths = lengths, oldValues = values, oldHashes = hashes;
        int capacity = offsets.length * 2;
        offsets = new int[capacity];
        lengths = new int[capacity];
        values = new int[capacity];
        hashes = new int[capacity];
        Arrays.fill(offsets, EMPTY);
        mask = capacity - 1;
        for (int i = 0; i < oldOffsets.length; i++) {
            if (oldOffsets[i] != EMPTY) insert(oldOffsets[i], oldLengths[i], oldValues[i], oldHashes[i]);
        }
    }

    int size() {
        return size;
    }
}
