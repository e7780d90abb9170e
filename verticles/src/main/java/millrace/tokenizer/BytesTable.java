package millrace.tokenizer;

import java.util.Arrays;

/**
 * An open-addressing hash table from byte strings to ints, looked up by a slice of a byte array without allocating:
 * the BPE hot loop asks "what is the rank of these bytes?" millions of times per second. Strings of up to 7 bytes
 * (most tokens) are packed with their length into a long and live in a table of longs: one memory access a probe.
 */
final class BytesTable {
    private static final int EMPTY = -1;
    private static final int SHORT = 7;

    private long[] shortKeys;
    private int[] shortValues;
    private int shortMask;
    private int shortSize;

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
        allocateLong(capacity);
        shortKeys = new long[capacity];
        shortValues = new int[capacity];
        shortMask = capacity - 1;
    }

    /** {@code len} bytes (at most 7) and the length in one long; never 0, which marks an empty slot. */
    private static long pack(byte[] b, int off, int len) {
        long k = (long) len << 56;
        for (int i = 0; i < len; i++) k |= (long) (b[off + i] & 0xFF) << (8 * i);
        return k;
    }

    private static int mix(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        return (int) k;
    }

    static int hash(byte[] b, int off, int len) {
        int h = 0x811c9dc5 ^ len;
        for (int i = off; i < off + len; i++) h = (h ^ (b[i] & 0xFF)) * 0x01000193;
        return h ^ (h >>> 15);
    }

    /** The value of {@code b[off, off + len)}, or -1. */
    int get(byte[] b, int off, int len) {
        if (len <= SHORT) {
            long k = pack(b, off, len);
            for (int slot = mix(k) & shortMask; ; slot = (slot + 1) & shortMask) {
                long found = shortKeys[slot];
                if (found == k) return shortValues[slot];
                if (found == 0) return -1;
            }
        }
        int h = hash(b, off, len);
        for (int slot = h & mask; ; slot = (slot + 1) & mask) {
            int o = offsets[slot];
            if (o == EMPTY) return -1;
            if (hashes[slot] == h && lengths[slot] == len && same(data, o, b, off, len)) return values[slot];
        }
    }

    /** Byte comparison; a plain loop beats the vectorised mismatch for the few bytes of a token. */
    private static boolean same(byte[] a, int aOff, byte[] b, int bOff, int len) {
        for (int i = 0; i < len; i++) if (a[aOff + i] != b[bOff + i]) return false;
        return true;
    }

    void put(byte[] key, int value) {
        if (get(key, 0, key.length) >= 0) throw new IllegalArgumentException("duplicate token " + Arrays.toString(key));
        if (key.length <= SHORT) {
            if ((shortSize + 1) * 2 > shortKeys.length) growShort();
            long k = pack(key, 0, key.length);
            int slot = mix(k) & shortMask;
            while (shortKeys[slot] != 0) slot = (slot + 1) & shortMask;
            shortKeys[slot] = k;
            shortValues[slot] = value;
            shortSize++;
            size++;
            return;
        }
        if ((size - shortSize + 1) * 2 > offsets.length) grow();
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

    private void allocateLong(int capacity) {
        offsets = new int[capacity];
        lengths = new int[capacity];
        values = new int[capacity];
        hashes = new int[capacity];
        Arrays.fill(offsets, EMPTY);
        mask = capacity - 1;
    }

    private void growShort() {
        long[] oldKeys = shortKeys;
        int[] oldValues = shortValues;
        shortKeys = new long[oldKeys.length * 2];
        shortValues = new int[oldKeys.length * 2];
        shortMask = shortKeys.length - 1;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] == 0) continue;
            int slot = mix(oldKeys[i]) & shortMask;
            while (shortKeys[slot] != 0) slot = (slot + 1) & shortMask;
            shortKeys[slot] = oldKeys[i];
            shortValues[slot] = oldValues[i];
        }
    }

    private void grow() {
        int[] oldOffsets = offsets, oldLengths = lengths, oldValues = values, oldHashes = hashes;
        allocateLong(offsets.length * 2);
        for (int i = 0; i < oldOffsets.length; i++) {
            if (oldOffsets[i] != EMPTY) insert(oldOffsets[i], oldLengths[i], oldValues[i], oldHashes[i]);
        }
    }

    int size() {
        return size;
    }
}
