package millrace.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link Tensors} written as the source of one TorchScript method, so that a whole pass costs one call into libtorch
 * instead of a DJL call per operation (some 300 for a forward pass of {@code gpt2-124m}; on a GPU the device would
 * wait for them). Each operation appends a line {@code sN = torch.op(...)} and returns {@code sN}; the blocks become a
 * TorchScript loop over the layers, the block written once, its weights read from the method's one argument list at
 * {@code a[w + i]}. Autograd records every operation inside as usual.
 *
 * <p>The argument list: the pass's inputs ({@link Pass#inputs}), the model's buffers, every parameter in the model's
 * order, then for a decode step every layer's cached keys, then values.
 */
final class ScriptTensors implements Tensors<String> {
    /** The passes a method is written for, and what each reads and returns. */
    enum Pass {
        /** Whole sequences, causal: {@code [idx]} → {@code [states]}. */
        WHOLE(1),
        /** Rows packing several sequences: {@code [idx, positions, mask]} → {@code [states]}. */
        PACKED(3),
        /** A prompt into an empty cache: {@code [idx]} → {@code [states, keys…, values…]}. */
        PROMPT(1),
        /**
         * One new token per row after a cache: {@code [idx, positions, mask]} (the mask read only by the masked
         * variant), then the cache → {@code [logits, keys…, values…]}, new tokens included.
         */
        DECODE(3);

        final int inputs;

        Pass(int inputs) {
            this.inputs = inputs;
        }
    }

    private final Architecture architecture;
    private final Pass pass;
    private final boolean masked;
    private final float dropout;
    private final StringBuilder body = new StringBuilder();
    private String indent = "    ";
    private int next;
    /** Where each buffer and parameter outside the blocks stands in the argument list. */
    private final Map<String, Integer> arguments = new HashMap<>();
    private final Map<String, Integer> inBlock = new HashMap<>();
    private final int firstBlock;
    /** Where the cached keys begin (decode). */
    private final int cached;
    /** The variable holding half a head's width, set by {@link #rotation}. */
    private String rotationHalf;

    private ScriptTensors(Architecture architecture, Pass pass, boolean masked, float dropout) {
        this.architecture = architecture;
        this.pass = pass;
        this.masked = masked;
        this.dropout = dropout;
        int at = pass.inputs;
        for (String b : architecture.buffers()) arguments.put(b, at++);
        for (Architecture.Parameter p : architecture.embedding()) arguments.put(p.name(), at++);
        firstBlock = at;
        List<Architecture.Parameter> block = architecture.block();
        for (int i = 0; i < block.size(); i++) inBlock.put(block.get(i).name(), i);
        at += block.size() * architecture.config().layers();
        for (Architecture.Parameter p : architecture.head()) arguments.put(p.name(), at++);
        cached = at;
    }

    /**
     * The source of a method {@code name} of {@code architecture} for {@code pass}: with dropout at {@code dropout}
     * (0 outside training), and for a decode step with each row's padding {@code masked} or not. {@code rowLogits}:
     * a decode step's projection of {@code x [b, C]} onto {@code wte} into {@code logits}.
     */
    static String method(Architecture architecture, String name, Pass pass, boolean masked, float dropout, String rowLogits) {
        ScriptTensors o = new ScriptTensors(architecture, pass, masked, dropout);
        StringBuilder src = new StringBuilder("  def forward(self: __torch__." + name + ", a: List[Tensor]) -> List[Tensor]:\n"
                + "    idx = a[0]\n"
                + "    b = idx.size(0)\n"
                + "    t = idx.size(1)\n");
        src.append(switch (pass) {
            case WHOLE, PROMPT -> "    positions = torch.unsqueeze(torch.arange(t, device=idx.device), 0)\n";
            case PACKED, DECODE -> "    positions = a[1]\n    mask = a[2]\n";
        });
        if (pass == Pass.PROMPT || pass == Pass.DECODE) {
            src.append("    keys = annotate(List[Tensor], [])\n    values = annotate(List[Tensor], [])\n");
        }
        String states = architecture.trunk(o, "idx", "positions");
        src.append(o.body);
        switch (pass) {
            case WHOLE, PACKED -> src.append("    return [").append(states).append("]\n");
            case PROMPT -> src.append("    out = [").append(states).append("]\n");
            case DECODE -> src.append("    x = torch.select(").append(states).append(", 1, 0)\n")
                    .append("    wte = ").append(o.weight(architecture.outputWeight())).append('\n')
                    .append(rowLogits)
                    .append("    out = [logits]\n");
        }
        if (pass == Pass.PROMPT || pass == Pass.DECODE) {
            src.append("    out.extend(keys)\n    out.extend(values)\n    return out\n");
        }
        return src.toString();
    }

    /** Appends {@code name = expression} and returns {@code name}, a fresh one. */
    private String let(String expression) {
        String name = "s" + next++;
        body.append(indent).append(name).append(" = ").append(expression).append('\n');
        return name;
    }

    private static String call(String op, String... args) {
        return op + "(" + String.join(", ", args) + ")";
    }

    private static String literal(double d) {
        return TorchScriptModule.literal((float) d);
    }

    @Override
    public String weight(String name) {
        Integer at = arguments.get(name);
        if (at == null) throw new IllegalStateException("no parameter " + name + " outside the blocks");
        return "a[" + at + "]";
    }

    @Override
    public String buffer(String name) {
        return weight(name);
    }

    @Override
    public String layers(String x, Block<String> block) {
        int perLayer = architecture.block().size();
        body.append(indent).append("x = ").append(x).append('\n');
        body.append(indent).append("for l in range(").append(architecture.config().layers()).append("):\n");
        String outer = indent;
        indent += "  ";
        body.append(indent).append("w = ").append(firstBlock).append(" + ").append(perLayer).append(" * l\n");
        String out = block.apply(name -> {
            Integer i = inBlock.get(name);
            if (i == null) throw new IllegalStateException("no parameter " + name + " in a block");
            return "a[w + " + i + "]";
        }, "x");
        body.append(indent).append("x = ").append(out).append('\n');
        indent = outer;
        return "x";
    }

    @Override
    public String embedding(String table, String ids) {
        return let(call("torch.embedding", table, ids));
    }

    @Override
    public String add(String a, String b) {
        return let(call("torch.add", a, b));
    }

    @Override
    public String mul(String a, String b) {
        return let(call("torch.mul", a, b));
    }

    @Override
    public String linear(String x, String weight, String bias) {
        return let(call("torch.linear", x, weight, bias == null ? "None" : bias));
    }

    @Override
    public String conv1d(String x, String weight, String bias) {
        return linear(x, "torch.t(" + weight + ")", bias);
    }

    @Override
    public String layerNorm(String x, String weight, String bias, double eps) {
        return let(call("torch.layer_norm", x, "[" + weight + ".size(0)]", weight, bias, literal(eps)));
    }

    /**
     * libtorch's {@code rms_norm}: one operation for the method's interpreter instead of eight, computing what Hugging
     * Face's RMSNorm does — in fp32 ({@code opmath}) whatever {@code x} is, {@code x · rsqrt(mean(x²) + eps)}, back to
     * {@code x}'s dtype, times the weight.
     */
    @Override
    public String rmsNorm(String x, String weight, double eps) {
        return let(call("torch.rms_norm", x, "[" + weight + ".size(0)]", weight, literal(eps)));
    }

    @Override
    public String geluTanh(String x) {
        return let("torch.gelu(" + x + ", approximate=\"tanh\")");
    }

    @Override
    public String silu(String x) {
        return let(call("torch.silu", x));
    }

    @Override
    public List<String> split(String x, int pieces) {
        String parts = let(call("torch.chunk", x, Integer.toString(pieces), "-1"));
        List<String> out = new ArrayList<>();
        for (int i = 0; i < pieces; i++) out.add(parts + "[" + i + "]");
        return out;
    }

    @Override
    public String heads(String x, int heads, int headDim) {
        return let(call("torch.transpose", call("torch.view", x, "[b, t, " + heads + ", " + headDim + "]"), "1", "2"));
    }

    @Override
    public String mergeHeads(String x) {
        return let(call("torch.flatten", call("torch.transpose", x, "1", "2"), "2"));
    }

    /**
     * The tables once per pass; the sines' first half negated, so that each rotation is {@link #rotate}'s four
     * operations: {@code rotate_half(x) · sin = roll(x, half) · [−sin₁, sin₂]}, negation being exact.
     */
    @Override
    public Rotation<String> rotation(String positions, String invFreq, String like) {
        String freqs = let(call("torch.mul", call("torch.unsqueeze", call("torch.to", positions, "6"), "-1"), invFreq));
        String angles = let(call("torch.cat", "[" + freqs + ", " + freqs + "]", "-1"));
        String cos = let(call("torch.unsqueeze", call("torch.to", call("torch.cos", angles), like + ".dtype"), "1"));
        String sin = let(call("torch.unsqueeze", call("torch.to", call("torch.sin", angles), like + ".dtype"), "1"));
        rotationHalf = let(sin + ".size(-1) // 2");
        String signed = let(call("torch.cat", "[" + call("torch.neg", call("torch.narrow", sin, "-1", "0", rotationHalf)) + ", "
                + call("torch.narrow", sin, "-1", rotationHalf, rotationHalf) + "]", "-1"));
        return new Rotation<>(cos, signed);
    }

    /** {@code x · cos + roll(x, half) · signed sin}, the tables {@link #rotation}'s. */
    @Override
    public String rotate(String x, Rotation<String> rotation) {
        String rolled = call("torch.roll", x, "[" + rotationHalf + "]", "[-1]");
        return let(call("torch.add", call("torch.mul", x, rotation.cos()), call("torch.mul", rolled, rotation.sin())));
    }

    @Override
    public String attend(String q, String k, String v) {
        if (pass == Pass.DECODE) {
            int layers = architecture.config().layers();
            k = let(call("torch.cat", "[a[" + cached + " + l], " + k + "]", "2"));
            v = let(call("torch.cat", "[a[" + (cached + layers) + " + l], " + v + "]", "2"));
        }
        if (pass == Pass.PROMPT || pass == Pass.DECODE) {
            body.append(indent).append("keys.append(").append(k).append(")\n");
            body.append(indent).append("values.append(").append(v).append(")\n");
        }
        String p = TorchScriptModule.literal(dropout);
        // each key/value head serves a group of query heads: the kernel reads it for each (the cache keeps one of each)
        String groups = architecture.queryGroups() > 1 ? "enable_gqa=True" : "enable_gqa=False";
        return let(switch (pass) {
            case WHOLE, PROMPT -> call("torch.scaled_dot_product_attention", q, k, v, "None", p, "True", groups);
            case PACKED -> call("torch.scaled_dot_product_attention", q, k, v, "mask", p, "False", groups);
            // the newest position may look at every key of its row: no mask but the padding's
            case DECODE -> call("torch.scaled_dot_product_attention", q, k, v, masked ? "mask" : "None", "0.", "False", groups);
        });
    }

    @Override
    public String dropout(String x) {
        return dropout > 0 ? let(call("torch.dropout", x, TorchScriptModule.literal(dropout), "True")) : x;
    }
}
