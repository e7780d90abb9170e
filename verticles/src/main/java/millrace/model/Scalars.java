package millrace.model;

import ai.djl.ndarray.NDArray;

/**
 * Arithmetic with a constant for code that autograd sees. DJL's {@code mul(Number)}, {@code div(Number)} and
 * {@code pow(Number)} wrap the constant around a Java direct buffer ({@code torch::from_blob}, no copy) and close that
 * array at once, while autograd keeps the constant for the backward pass: once a garbage collection frees the buffer,
 * the gradient reads freed memory. Measured: with a collection between forward and backward, {@code x.mul(0.5f)} gave
 * a wrong gradient in 159 of 200 steps (the sporadic "wobble" and non-finite gradients seen in earlier sessions). The
 * constant made here belongs to {@code x}'s manager — the step's scope — and so lives until after the backward pass.
 * ({@code add}/{@code sub} of a number keep no operand for backward and are safe as DJL has them.)
 */
public final class Scalars {
    private Scalars() {}

    /** {@code x · s}. */
    public static NDArray times(NDArray x, float s) {
        return x.mul(constant(x, s));
    }

    /** {@code x / s}. */
    public static NDArray over(NDArray x, float s) {
        return x.div(constant(x, s));
    }

    /** {@code x ^ p}. */
    public static NDArray power(NDArray x, float p) {
        return x.pow(constant(x, p));
    }

    /** A 0-dimensional array of {@code value} in {@code like}'s manager, and of its type (no type promotion). */
    public static NDArray constant(NDArray like, float value) {
        NDArray c = like.getManager().create(value);
        return like.getDataType() == c.getDataType() ? c : c.toType(like.getDataType(), false);
    }
}
