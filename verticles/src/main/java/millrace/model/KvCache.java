package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * Keys and values of every layer for the tokens seen so far, kept in its own manager between steps. Its rows may
 * hold sequences of different lengths (requests decoded together, see {@link DecodeBatch}): each row's tokens are
 * right-aligned at {@link #length()}, and the positions before {@link #length(int) its own tokens} are padding that nothing attends to.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager manager;
    private final NDArray[] keys;
    private final NDArray[] values;
    private int length;
    /** Where each row's tokens begin; null while every row begins at 0. */
    private int[] starts;

    KvCache(NDManager manager, int layers) {
        this.manager = manager;
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
    }

    /** A layer's cached keys {@code [rows, heads, length, headDim]} (tests). */
    NDArray keys(int layer) {
        return keys[layer];
    }

    /** Every layer's keys, then every layer's values: what a decode step's method reads after the weights. */
    void addTo(java.util.List<NDArray> arguments) {
        arguments.addAll(Arrays.asList(keys));
        arguments.addAll(Arrays.asList(values));
    }

    /** Whether some rows begin after position 0 (requests of different lengths decoded together). */
    boolean ragged() {
        return starts != null;
    }

    /** The cache now holds {@code positions} more for every row (a pass appended its keys and values). */
    void advance(int positions) {
        length += positions;
    }

    /** Positions held: the longest row's tokens. */
    public int length() {
        return length;
    }

    public int rows() {
        return keys[0] == null ? 0 : (int) keys[0].getShape().get(0);
    }

    /** Tokens held for {@code row}. */
    public int length(int row) {
        return length - (starts == null ? 0 : starts[row]);
    }

    /** Each row's position for its next token {@code [rows]}: the one after its own tokens. */
    NDArray nextPositions(NDManager scope, int blockSize) {
        long[] positions = new long[rows()];
        for (int r = 0; r < positions.length; r++) {
            positions[r] = length(r);
            if (positions[r] >= blockSize) throw new IllegalArgumentException("row " + r + " is past the block");
        }
        return scope.create(positions);
    }

    /** {@code [rows, 1, 1, length + 1]}: the keys from each row's own start on, the next token's included. */
    NDArray paddingMask(NDManager scope) {
        int[] from = starts != null ? starts : new int[rows()];
        return scope.arange(0, length + 1).reshape(1, length + 1).gte(scope.create(from).reshape(from.length, 1))
                .reshape(from.length, 1, 1, length + 1);
    }

    /** Appends this step's keys and values of a layer and returns all of them. */
    NDArray[] append(int layer, NDArray k, NDArray v) {
        NDArray allK = keys[layer] == null ? k : keys[layer].concat(k, 2);
        NDArray allV = values[layer] == null ? v : values[layer].concat(v, 2);
        allK.attach(manager); // owned by the cache from now on; this step still reads them
        allV.attach(manager);
        if (keys[layer] != null) {
            keys[layer].close();
            values[layer].close();
        }
        keys[layer] = allK;
        values[layer] = allV;
        return new NDArray[] {allK, allV};
    }

    /** A layer's keys and values, this step's included, made by a step that is still open. */
    void replace(int layer, NDArray k, NDArray v) {
        k.attach(manager);
        v.attach(manager);
        keys[layer].close();
        values[layer].close();
        keys[layer] = k;
        values[layer] = v;
    }

    /**
     * Takes {@code other}'s rows in after this cache's own, the shorter side padded on the left so that every
     * row ends at the same position; {@code other} is closed.
     */
    public void join(KvCache other) {
        try (other; NDManager scratch = manager.newSubManager()) {
            if (other.rows() == 0) return;
            int rows = rows();
            int joined = Math.max(length, other.length);
            int[] startsOf = new int[rows + other.rows()];
            for (int r = 0; r < rows; r++) startsOf[r] = joined - length(r);
            for (int r = 0; r < other.rows(); r++) startsOf[rows + r] = joined - other.length(r);
            for (int layer = 0; layer < keys.length; layer++) {
                keys[layer] = joinRows(scratch, keys[layer], other.keys[layer], joined - length, joined - other.length);
                values[layer] = joinRows(scratch, values[layer], other.values[layer], joined - length, joined - other.length);
            }
            length = joined;
            starts = Arrays.stream(startsOf).allMatch(s -> s == 0) ? null : startsOf;
        }
    }

    /** {@code mine} and {@code theirs} one after the other along the rows, each padded on the left as given. */
    private NDArray joinRows(NDManager scratch, NDArray mine, NDArray theirs, int padMine, int padTheirs) {
        NDArray joined = mine == null ? theirs
                : padLeft(scratch, mine, padMine).concat(padLeft(scratch, theirs, padTheirs), 0);
        joined.attach(manager); // what the scratch manager made for it is freed with it
        if (mine != null) mine.close();
        return joined;
    }

    private static NDArray padLeft(NDManager scratch, NDArray x, int n) {
        if (n == 0) return x;
        Shape s = x.getShape();
        return scratch.zeros(new Shape(s.get(0), s.get(1), n, s.get(3)), x.getDataType()).concat(x, 2);
    }

    /**
     * Keeps only {@code rows}, in that order; a row may be named more than once (one prompt's cache for several
     * answers). Padding that no kept row needs any more is dropped.
     */
    public void keep(int[] rows) {
        if (rows.length == 0) {
            for (int layer = 0; layer < keys.length; layer++) {
                if (keys[layer] != null) {
                    keys[layer].close();
                    values[layer].close();
                }
                keys[layer] = null;
                values[layer] = null;
            }
            length = 0;
            starts = null;
            return;
        }
        int[] kept = new int[rows.length];
        for (int i = 0; i < rows.length; i++) kept[i] = length - length(rows[i]);
        int trim = Arrays.stream(kept).min().getAsInt();
        long[] index = Arrays.stream(rows).asLongStream().toArray();
        try (NDManager scratch = manager.newSubManager()) {
            NDArray which = scratch.create(index);
            for (int layer = 0; layer < keys.length; layer++) {
                keys[layer] = keepRows(scratch, keys[layer], which, trim);
                values[layer] = keepRows(scratch, values[layer], which, trim);
            }
        }
        length -= trim;
        for (int i = 0; i < kept.length; i++) kept[i] -= trim;
        starts = Arrays.stream(kept).allMatch(s -> s == 0) ? null : kept;
    }

    private NDArray keepRows(NDManager scratch, NDArray all, NDArray which, int trim) {
        NDArray picked = all.get(which);
        picked.attach(scratch); // freed with it, unless it is what is kept
        NDArray kept = trim > 0 ? picked.get(":, :, " + trim + ":") : picked;
        kept.attach(manager);
        all.close();
        return kept;
    }

    @Override
    public void close() {
        manager.close();
    }
}
