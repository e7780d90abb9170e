package millrace.feedback;

import ai.djl.ndarray.NDArray;
import millrace.model.Scalars;

/**
 * The losses of learning from people, on the summed answer-token log-probabilities of the policy and of the frozen
 * reference ({@link Sequence#logProbSums}); each returns one loss per example, for the caller to weight and average.
 * Constants go through {@link Scalars}: autograd keeps them for the backward pass.
 */
final class PreferenceLosses {
    private PreferenceLosses() {}

    /**
     * DPO (Rafailov et al., 2023): {@code -log σ(β·h)} with {@code h = (log π(y⁺) - log π_ref(y⁺)) - (log π(y⁻) -
     * log π_ref(y⁻))}; with label smoothing ε (conservative DPO, for raters who are sometimes wrong) {@code -(1-ε)·log
     * σ(β·h) - ε·log σ(-β·h)}. Written with softplus: {@code -log σ(x) = softplus(-x)}, exact for any x.
     *
     * <p>The loss falls when the margin h rises — which it can do while the chosen answer's own log-probability falls,
     * as long as the rejected one falls faster: DPO moves the two relative to the reference and to each other, not
     * either one up.
     */
    static NDArray dpo(NDArray policyChosen, NDArray policyRejected, NDArray refChosen, NDArray refRejected, float beta,
            float labelSmoothing) {
        NDArray logits = Scalars.times(policyChosen.sub(refChosen).sub(policyRejected.sub(refRejected)), beta);
        NDArray loss = Scalars.times(softplus(logits.neg()), 1 - labelSmoothing);
        return labelSmoothing == 0 ? loss : loss.add(Scalars.times(softplus(logits), labelSmoothing));
    }

    /** DPO's implicit reward of an answer: {@code β · (log π(y) - log π_ref(y))}. */
    static NDArray reward(NDArray policy, NDArray reference, float beta) {
        return Scalars.times(policy.sub(reference), beta);
    }

    /**
     * KTO (Ethayarajh et al., 2024): with {@code r = log π(y) - log π_ref(y)} and the reference point z0, a desirable
     * answer costs {@code λ_D·(1 - σ(β·(r - z0)))}, an undesirable one {@code λ_U·(1 - σ(β·(z0 - r)))}.
     *
     * @param desirable 1 for a desirable answer, 0 for an undesirable one, per example
     */
    static NDArray kto(NDArray policy, NDArray reference, NDArray desirable, float z0, float beta, float lambdaDesirable,
            float lambdaUndesirable) {
        NDArray shifted = Scalars.times(policy.sub(reference).sub(Scalars.constant(policy, z0)), beta);
        NDArray good = Scalars.times(sigmoid(shifted).neg().add(1f), lambdaDesirable);
        NDArray bad = Scalars.times(sigmoid(shifted.neg()).neg().add(1f), lambdaUndesirable);
        return good.mul(desirable).add(bad.mul(desirable.neg().add(1f)));
    }

    /**
     * KTO's reference point: an estimate of KL(π ‖ π_ref) from mismatched pairs of the batch (each prompt with
     * another example's answer, whose log-ratios sum to a sample of the KL), clamped at 0 and carrying no gradient.
     */
    static float ktoReferencePoint(float[] mismatchedPolicy, float[] mismatchedReference) {
        if (mismatchedPolicy.length == 0) return 0f;
        double sum = 0;
        for (int i = 0; i < mismatchedPolicy.length; i++) sum += mismatchedPolicy[i] - mismatchedReference[i];
        return (float) Math.max(0, sum / mismatchedPolicy.length);
    }

    private static NDArray softplus(NDArray x) {
        return x.getNDArrayInternal().softPlus();
    }

    private static NDArray sigmoid(NDArray x) {
        return x.getNDArrayInternal().sigmoid();
    }
}
