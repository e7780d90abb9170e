package millrace.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * libtorch ops that DJL 0.36 does not expose — fused attention, GELU, the fused AdamW kernel — reached through
 * TorchScript: libtorch compiles a module's TorchScript source when it loads it, and DJL runs a loaded module's
 * methods on its own tensors. This class writes, in memory, the archive {@code torch.jit.save} would write for a
 * stateless module with the given methods, loads it, and calls it.
 *
 * <p>{@link #forward} records autograd, so gradients flow through it into the caller's graph like through any
 * other op; {@link #call} runs a method without autograd (an optimizer's in-place update). Methods are written in
 * TorchScript's serialized form: {@code def name(self: __torch__.ClassName, x: Tensor) -> Tensor:}, two-space
 * indents. Anything a method depends on (a dropout probability, Adam's betas) is a literal of its source, so a
 * module has no state that two callers could race on.
 */
public final class TorchScriptModule implements AutoCloseable {
    /**
     * Runs a thread's methods as written, without the JIT's optimising executor (a per-thread libtorch setting): after
     * its profiling runs that executor may differentiate a method with its own symbolic gradients instead of each op's
     * autograd formula. A method here is one op, so it has nothing to gain; and once in CI a whole model's gradient
     * through the fused kernels came out 2e-3 (relative) off the written-out one after the warm-up calls — never
     * reproduced in 300 local repetitions, but a plain eager op is what the tests compare and the trainer trusts.
     */
    private static final ThreadLocal<Boolean> EAGER = ThreadLocal.withInitial(() -> {
        JniUtils.setGraphExecutorOptimize(false);
        return true;
    });

    private final PtSymbolBlock module;

    private TorchScriptModule(PtSymbolBlock module) {
        this.module = module;
    }

    /** Compiles a module named {@code className} whose body is {@code methods} onto {@code manager}'s device. */
    public static TorchScriptModule compile(PtNDManager manager, String className, String methods) {
        ByteArrayOutputStream archive = new ByteArrayOutputStream();
        try {
            writeArchive(archive, className, methods);
            return new TorchScriptModule(
                    JniUtils.loadModule(manager, new ByteArrayInputStream(archive.toByteArray()), true, false));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code forward(inputs...)} with autograd recording; the result belongs to the first input's manager. */
    public NDArray forward(NDArray... inputs) {
        EAGER.get();
        return IValueUtils.forward(module, new NDList(inputs), true).singletonOrThrow();
    }

    /**
     * {@code forward(list)} with autograd recording, for a method that takes and returns one {@code List[Tensor]}.
     * (DJL passes the arrays of an {@link NDList} named {@code name[]} to a method as one list; the arrays' names are
     * put back afterwards.)
     */
    public NDList forwardList(List<NDArray> inputs) {
        List<String> names = new ArrayList<>(inputs.size());
        for (NDArray a : inputs) {
            names.add(a.getName());
            a.setName("list[]");
        }
        EAGER.get();
        try {
            return IValueUtils.forward(module, new NDList(inputs), true);
        } finally {
            for (int i = 0; i < inputs.size(); i++) inputs.get(i).setName(names.get(i));
        }
    }

    /**
     * {@code forward(list)} for a method that takes and returns one {@code List[Tensor]}, under libtorch's inference
     * mode: no autograd, and none of its per-op bookkeeping (version counters, view tracking). The results are
     * inference tensors, attached to {@code manager}: they may be read by any later op but not saved for a backward
     * pass (though one may seed a backward pass as its gradient: backward saves nothing). Generation's prompt and
     * decode step.
     */
    public NDList infer(List<NDArray> inputs, PtNDManager manager) {
        // generation runs the same few methods over and over with nothing to differentiate: here the JIT's optimising
        // executor, off for training (see EAGER), specialises them after two profiling runs — a decode step of
        // llama-small 246 -> 303 tokens/s at batch 1, 1,135 -> 1,192 at batch 8 (bench generate, 2 cores), the first
        // call of a new shape 30 ms slower
        EAGER.get();
        JniUtils.setGraphExecutorOptimize(true);
        try (IValue list = IValue.listFrom(inputs.stream().map(a -> (PtNDArray) a).toArray(PtNDArray[]::new));
                IValue out = IValueUtils.runMethod(module, "forward", list)) {
            return out.toNDList(manager);
        } finally {
            JniUtils.setGraphExecutorOptimize(false);
        }
    }

    /** Runs {@code method} without autograd; the caller closes the arguments and the result. */
    public IValue call(String method, IValue... arguments) {
        EAGER.get();
        return IValueUtils.runMethod(module, method, arguments);
    }

    /** A float as a TorchScript literal that parses back to the same value. */
    public static String literal(float f) {
        return String.format(java.util.Locale.ROOT, "%.9g", f);
    }

    /**
     * The archive: {@code data.pkl} (the module object in pickle protocol 2: an instance of
     * {@code __torch__.<className>} with {@code training = True}), {@code code/__torch__.py} (the class),
     * {@code constants.pkl} (an empty tuple) and {@code version} (file format 10, libtorch's newest: an older one would make it compile the calls against operator schemas of that age, such as a {@code gelu} without {@code approximate}).
     */
    static void writeArchive(OutputStream out, String className, String methods) throws IOException {
        String source = "class " + className + "(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + methods;
        ByteArrayOutputStream pickle = new ByteArrayOutputStream();
        pickle.write(new byte[] {(byte) 0x80, 2}); // PROTO 2
        pickle.write(("c__torch__\n" + className + "\n").getBytes(StandardCharsets.US_ASCII)); // GLOBAL
        pickle.write(new byte[] {')', (byte) 0x81, '}', '('}); // EMPTY_TUPLE NEWOBJ EMPTY_DICT MARK
        pickle.write(new byte[] {'X', 8, 0, 0, 0}); // BINUNICODE of 8 bytes
        pickle.write("training".getBytes(StandardCharsets.US_ASCII));
        pickle.write(new byte[] {(byte) 0x88, 'u', 'b', '.'}); // NEWTRUE SETITEMS BUILD STOP
        try (ZipOutputStream zip = new ZipOutputStream(out)) {
            stored(zip, "module/data.pkl", pickle.toByteArray());
            stored(zip, "module/code/__torch__.py", source.getBytes(StandardCharsets.UTF_8));
            stored(zip, "module/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'});
            stored(zip, "module/version", "10\n".getBytes(StandardCharsets.US_ASCII));
        }
    }

    private static void stored(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry entry = new ZipEntry(name);
        entry.setMethod(ZipEntry.STORED);
        entry.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        entry.setCrc(crc.getValue());
        zip.putNextEntry(entry);
        zip.write(data);
        zip.closeEntry();
    }

    @Override
    public void close() {
        module.close();
    }
}
