package millrace.tokenizer;

/**
 * The merges of a BPE vocabulary by the pair of token ids they join: (left, right) → the merge's rank and the token it
 * makes. The merge loop asks this for every adjacent pair of parts, millions of times a second, so it is open
 * addressing over one array of longs: a slot is the pair packed in a long and, beside it, the rank and the token packed
 * in another, so that a lookup touches one cache line (the table is megabytes: a miss is what a lookup costs).
 */
final class MergeTable {
    /** What {@link #find} answers for a pair that does not merge. */
    static final long NONE = -1L;
    private static final long EMPTY = -1L; // ids are never negative, so no pair packs to -1

    private long[] slots; // key, value, key, value, ...
    private int mask; // over slot numbers
    private int size;

    MergeTable(int expected) {
        allocate(Integer.highestOneBit(Math.max(16, expected * 5 / 3)) << 1);
    }

    private void allocate(int capacity) {
        slots = new long[2 * capacity];
        for (int s = 0; s < slots.length; s += 2) slots[s] = EMPTY;
        mask = capacity - 1;
    }

    private static long key(int left, int right) {
        return (long) left << 32 | (right & 0xFFFFFFFFL);
    }

    private static int mix(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        return (int) k;
    }

    /** Records that {@code left} and {@code right} merge, at {@code rank}, into {@code into}; a pair set twice keeps the last. */
    void put(int left, int right, int rank, int into) {
        if ((size + 1) * 5 > (mask + 1) * 3) grow(); // at most 60% full
        long k = key(left, right);
        int slot = mix(k) & mask;
        while (slots[2 * slot] != EMPTY && slots[2 * slot] != k) slot = (slot + 1) & mask;
        if (slots[2 * slot] == EMPTY) size++;
        slots[2 * slot] = k;
        slots[2 * slot + 1] = (long) rank << 32 | (into & 0xFFFFFFFFL);
    }

    /** The merge of {@code left} and {@code right}: its {@link #rank} and {@link #merged} token in one long; NONE if they do not merge. */
    long find(int left, int right) {
        long k = key(left, right);
        for (int slot = mix(k) & mask; ; slot = (slot + 1) & mask) {
            long found = slots[2 * slot];
            if (found == k) return slots[2 * slot + 1];
            if (found == EMPTY) return NONE;
        }
    }

    /** The rank of a merge {@link #find} found. */
    static int rank(long merge) {
        return (int) (merge >>> 32);
    }

    /** The token a merge {@link #find} found makes. */
    static int merged(long merge) {
        return (int) merge;
    }

    int size() {
        return size;
    }

    private void grow() {
        long[] old = slots;
        allocate(2 * (mask + 1));
        for (int s = 0; s < old.length; s += 2) {
            if (old[s] == EMPTY) continue;
            int slot = mix(old[s]) & mask;
            while (slots[2 * slot] != EMPTY) slot = (slot + 1) & mask;
            slots[2 * slot] = old[s];
            slots[2 * slot + 1] = old[s + 1];
        }
    }
}
