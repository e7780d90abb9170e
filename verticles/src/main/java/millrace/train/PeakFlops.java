package millrace.train;

import ai.djl.Device;
import java.util.OptionalDouble;

/**
 * The dense peak FLOP/s of the training device, the denominator of model FLOPs utilisation (MFU). Known for NVIDIA
 * data-centre GPUs by compute capability (A100: 8.0, H100/H200: 9.0); {@code MILLRACE_PEAK_TFLOPS} overrides it
 * (any other GPU, or a CPU). fp32 counts TF32 tensor cores when {@code TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1}.
 */
public final class PeakFlops {
    private PeakFlops() {}

    public static OptionalDouble of(Device device, TrainSettings.Precision precision) {
        String override = System.getenv("MILLRACE_PEAK_TFLOPS");
        if (override != null && !override.isBlank()) return OptionalDouble.of(Double.parseDouble(override) * 1e12);
        if (!device.isGpu()) return OptionalDouble.empty();
        String capability;
        try {
            capability = ai.djl.util.cuda.CudaUtils.getComputeCapability(device.getDeviceId());
        } catch (RuntimeException e) {
            return OptionalDouble.empty();
        }
        boolean tf32 = "1".equals(System.getenv("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"));
        return peak(capability, precision, tf32);
    }

    /** Dense (no sparsity) tensor-core peaks from NVIDIA's data sheets, SXM parts. */
    static OptionalDouble peak(String capability, TrainSettings.Precision precision, boolean tf32) {
        boolean half = precision == TrainSettings.Precision.FP16 || precision == TrainSettings.Precision.BF16; // same peak
        return switch (capability) {
            case "90" , "9.0" -> OptionalDouble.of(half ? 989.4e12 : tf32 ? 494.7e12 : 66.9e12);
            case "80", "8.0" -> OptionalDouble.of(half ? 312e12 : tf32 ? 156e12 : 19.5e12);
            default -> OptionalDouble.empty();
        };
    }
}
