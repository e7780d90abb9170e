package millrace.tokenizer.jinja;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Pattern;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * A chat template as transformers renders it: Jinja2's sandboxed environment with {@code trim_blocks},
 * {@code lstrip_blocks} and loop controls, transformers' {@code tojson} (no ASCII escaping, {@code indent},
 * {@code separators}, {@code sort_keys}), {@code raise_exception(message)} and {@code strftime_now(format)} — over
 * Jinjava, with what Jinjava lacks or does otherwise made to behave as Jinja2 does:
 * <ul>
 *   <li>whitespace control and line handling ({@link Jinja2Whitespace}: Jinjava's lstrip differs, it keeps the last
 *       newline, and it knows no {@code +});</li>
 *   <li>Python's str methods and string indexing ({@link PythonMethodResolver});</li>
 *   <li>expressions parsed as Jinja2 parses them: slices with a step ({@code messages[::-1]}), {@code not} looser
 *       than tests ({@code not tools is none}), keyword arguments taking whole expressions; Python's {@code +},
 *       {@code ~}, {@code and}, {@code ==}; an unknown filter or test an error ({@link PythonSyntax},
 *       {@link PythonOperators});</li>
 *   <li>{@code for}: a fresh scope per iteration, loop filters, {@code loop.previtem}/{@code nextitem}
 *       ({@link PythonForTag});</li>
 *   <li>output as Python's {@code str()} ({@code True}, {@code 1e-05}, {@code ['a']}); the filters {@code tojson},
 *       {@code trim}, {@code items}, {@code length}, {@code capitalize}, {@code title}, {@code upper},
 *       {@code lower}, {@code string} and the tests {@code iterable}, {@code sequence} with Python's semantics;
 *       transformers' {@code {% generation %}} tag (it renders its body);</li>
 *   <li>filters binding tighter than {@code +} ({@code a + b | trim} trims b), dict literals' keys evaluated, loops
 *       over a dict walking its keys, and no re-rendering of output that looks like a template.</li>
 * </ul>
 * What stays different: Java's null is both None and undefined (a variable bound to None is not {@code defined},
 * prints as nothing, and an attribute of an undefined value is undefined rather than an error); text after a
 * {@code break}/{@code continue} inside the same {@code if} still renders; recursive loops are refused; Jinjava's
 * sandbox is not Jinja2's (it refuses Java's reflective methods, but lets {@code list.append} change a list).
 *
 * <p>A failure — a syntax error, the template's {@code raise_exception}, what Python would raise — is a
 * {@link ChatTemplateException} whose one-line message names the template's origin.
 */
public final class ChatJinja {
    private static final Jinjava ENVIRONMENT = environment();

    private final String origin;
    /** The template's tree, parsed once: rendering walks it and changes nothing in it. */
    private final Node tree;

    private ChatJinja(String origin, Node tree) {
        this.origin = origin;
        this.tree = tree;
    }

    /**
     * The template {@code jinja}; {@code origin} names it in errors (a file, "tokenizer_config.json's chat_template").
     * Its tags are checked here; its expressions when they are first evaluated.
     */
    public static ChatJinja compile(String jinja, String origin) {
        String source = Jinja2Whitespace.apply(jinja, origin);
        JinjavaInterpreter parser = newInterpreter(Map.of());
        JinjavaInterpreter.pushCurrent(parser);
        try {
            Node tree = parser.parse(source);
            failOnErrors(origin, parser.getErrorsCopy());
            return new ChatJinja(origin, tree);
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    /** An interpreter of its own for one render (or one parse), over a copy of the environment's filters and tags. */
    private static JinjavaInterpreter newInterpreter(Map<String, ?> bindings) {
        JinjavaConfig config = ENVIRONMENT.getGlobalConfig();
        Context context = new Context(ENVIRONMENT.getGlobalContextCopy(), bindings, config.getDisabled());
        return config.getInterpreterFactory().newInstance(ENVIRONMENT, context, config);
    }

    public String origin() {
        return origin;
    }

    /**
     * The template rendered with {@code variables} (plain values: maps, lists, strings, numbers, booleans, null — as
     * {@link PythonValues#fromJson} makes them). {@code raise_exception} and {@code strftime_now} are always defined.
     */
    public String render(Map<String, ?> variables) {
        Map<String, Object> bindings = new HashMap<>(variables);
        // defined as names too, as Jinja2's globals are, for templates that ask "strftime_now is defined"
        bindings.putIfAbsent("raise_exception", new PythonFunction("raise_exception"));
        bindings.putIfAbsent("strftime_now", new PythonFunction("strftime_now"));
        JinjavaInterpreter interpreter = newInterpreter(bindings);
        JinjavaInterpreter.pushCurrent(interpreter);
        try {
            String output = interpreter.render(tree, true);
            failOnErrors(origin, interpreter.getErrorsCopy());
            return output;
        } catch (ChatTemplateException e) {
            throw e;
        } catch (RuntimeException e) { // what Jinjava does not record as an error (a tag's own failure)
            PythonError raised = pythonError(e);
            throw new ChatTemplateException(origin + ": " + oneLine(raised != null ? raised.getMessage() : e.getMessage()));
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    /**
     * Jinjava records errors and renders on; Jinja2 stops at the first. The first that Python would raise (or the
     * template's raise_exception) is reported, else the first fatal one. Warnings (an undefined attribute) are
     * Jinja2's undefined values, not errors.
     */
    private static void failOnErrors(String origin, List<TemplateError> errors) {
        TemplateError fatal = null;
        for (TemplateError e : errors) {
            PythonError raised = pythonError(e.getException());
            if (raised != null) throw new ChatTemplateException(origin + ": " + oneLine(raised.getMessage()));
            if (fatal == null && e.getSeverity() == TemplateError.ErrorType.FATAL) fatal = e;
        }
        if (fatal != null) {
            throw new ChatTemplateException(origin + ": " + oneLine(fatal.getMessage())
                    + (fatal.getLineno() > 0 ? " (line " + fatal.getLineno() + ")" : ""));
        }
    }

    private static PythonError pythonError(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof PythonError p) return p;
        }
        return null;
    }

    private static final Pattern LINE_BREAKS = Pattern.compile("\\s*\\R\\s*");

    private static String oneLine(String message) {
        return message == null ? "failed" : LINE_BREAKS.matcher(message.strip()).replaceAll(" ");
    }

    /** A Jinja2 global function as a value: it is defined, and prints as Python prints a function. */
    private record PythonFunction(String name) {
        @Override
        public String toString() {
            return "<function " + name + ">";
        }
    }

    // ---- the environment

    private static Jinjava environment() {
        CompositeELResolver resolvers = new CompositeELResolver();
        resolvers.add(new PythonMethodResolver());
        resolvers.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                // Jinja2Whitespace has applied trim_blocks and lstrip_blocks to the source
                .withTrimBlocks(false).withLstripBlocks(false)
                .withLegacyOverrides(LegacyOverrides.newBuilder().withUseNaturalOperatorPrecedence(true)
                        .withEvaluateMapKeys(true).withIterateOverMapKeys(true).withKeepNullableLoopValues(true).build())
                // a message that contains "{{" is text, not a template to render again
                .withNestedInterpretationEnabled(false)
                .withElResolver(resolvers)
                .withInterperterFactory(new PythonPrinting())
                .build();
        Jinjava jinjava = new PythonExpressions(config);
        jinjava.registerTag(new PythonForTag());
        jinjava.registerTag(new GenerationTag());
        jinjava.registerExpTest(new PythonTest("iterable",
                v -> v instanceof Iterable<?> || v instanceof Map<?, ?> || v instanceof String || v instanceof Object[]));
        jinjava.registerExpTest(new PythonTest("sequence",
                v -> v instanceof Collection<?> || v instanceof Map<?, ?> || v instanceof String || v instanceof Object[]));
        jinjava.registerFunction(function("raise_exception", "raiseException"));
        jinjava.registerFunction(function("strftime_now", "strftimeNow"));
        for (Filter f : List.of(new ToJson(), new Trim(), new Items(), new Length("length"), new Length("count"),
                new StringMethod("capitalize"), new Title(), new StringMethod("upper"), new StringMethod("lower"),
                new Str())) {
            jinjava.registerFilter(f);
        }
        return jinjava;
    }

    private static ELFunctionDefinition function(String name, String method) {
        for (Method m : ChatJinja.class.getDeclaredMethods()) {
            if (m.getName().equals(method)) {
                m.setAccessible(true);
                return new ELFunctionDefinition("", name, m);
            }
        }
        throw new IllegalStateException("no method " + method);
    }

    /** transformers' {@code raise_exception(message)}: the template refuses its input. */
    @SuppressWarnings("unused") // called by templates
    private static Object raiseException(Object message) {
        throw new PythonError("the template raised: " + PythonValues.str(message));
    }

    /** transformers' {@code strftime_now(format)}: now, formatted. */
    @SuppressWarnings("unused") // called by templates
    private static String strftimeNow(Object format) {
        if (!(format instanceof String f)) throw new PythonError("strftime_now takes a format string");
        return Strftime.now(f);
    }

    /** Jinjava with expressions parsed by {@link PythonSyntax.SyntaxBuilder}. */
    private static final class PythonExpressions extends Jinjava {
        private final ExpressionFactory expressions;

        PythonExpressions(JinjavaConfig config) {
            super(config);
            Properties properties = new Properties();
            properties.setProperty(TreeBuilder.class.getName(), PythonSyntax.SyntaxBuilder.class.getName());
            this.expressions = new ExpressionFactoryImpl(properties, new TruthyTypeConverter());
        }

        @Override
        public ExpressionFactory getExpressionFactory() {
            return expressions;
        }
    }

    /** Interpreters that print values as Python's {@code str()} does. */
    private static final class PythonPrinting implements InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
            return new Interpreter(orig);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig renderConfig) {
            return new Interpreter(application, context, renderConfig);
        }

        private static final class Interpreter extends JinjavaInterpreter {
            Interpreter(JinjavaInterpreter orig) {
                super(orig);
            }

            Interpreter(Jinjava application, Context context, JinjavaConfig config) {
                super(application, context, config);
            }

            @Override
            public String getAsString(Object object) {
                return PythonValues.str(object);
            }
        }
    }

    /** transformers' {@code {% generation %}}: marks an assistant's text for its mask; rendering, it is its body. */
    private static final class GenerationTag implements Tag {
        private static final long serialVersionUID = 1L;

        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String getEndTagName() {
            return "endgeneration";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder out = new StringBuilder();
            for (Node child : tagNode.getChildren()) out.append(child.render(interpreter));
            return out.toString();
        }
    }

    /**
     * A test as Jinja2 answers it where Jinjava differs: a string is {@code iterable} and a {@code sequence} (Llama 3.1
     * writes a tool's string result with {@code tojson} because of it), and so is a dict.
     */
    private record PythonTest(String name, java.util.function.Predicate<Object> test) implements ExpTest {
        @Override
        public String getName() {
            return name;
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return test.test(var);
        }
    }

    // ---- filters with Python's semantics

    /** A filter that reads its arguments as Python passes them, positional and named. */
    private abstract static class PythonFilter implements Filter {
        private final String name;

        PythonFilter(String name) {
            this.name = name;
        }

        @Override
        public final String getName() {
            return name;
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }

        @Override
        public abstract Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs);

        static Object argument(Object[] args, Map<String, Object> kwargs, int position, String name, Object fallback) {
            if (kwargs.containsKey(name)) return kwargs.get(name);
            return args.length > position ? args[position] : fallback;
        }

    }

    /** transformers' {@code tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)}. */
    private static final class ToJson extends PythonFilter {
        ToJson() {
            super("tojson");
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object separators = argument(args, kwargs, 2, "separators", null);
            List<String> pair = null;
            if (separators != null) {
                if (!(separators instanceof Collection<?> c) || c.size() != 2) throw new PythonError("tojson: separators must be a pair");
                pair = c.stream().map(PythonValues::str).toList();
            }
            return PythonValues.json(var, truthy(argument(args, kwargs, 0, "ensure_ascii", false)),
                    argument(args, kwargs, 1, "indent", null), pair, truthy(argument(args, kwargs, 3, "sort_keys", false)));
        }

        private static boolean truthy(Object o) {
            return com.hubspot.jinjava.util.ObjectTruthValue.evaluate(o);
        }
    }

    /** Jinja2's {@code trim(value, chars=None)}: Python's {@code str.strip}. */
    private static final class Trim extends PythonFilter {
        Trim() {
            super("trim");
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object chars = argument(args, kwargs, 0, "chars", null);
            String s = PythonValues.str(var);
            String set = chars == null ? null : PythonValues.str(chars);
            return PythonStrings.rstrip(PythonStrings.lstrip(s, set), set);
        }
    }

    /** Jinja2's {@code items(mapping)}: its key–value pairs, for {@code for k, v in d | items}. */
    private static final class Items extends PythonFilter {
        Items() {
            super("items");
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            if (var == null) return List.of();
            if (!(var instanceof Map<?, ?> map)) throw new PythonError("items expects a mapping, not " + PythonValues.repr(var));
            List<Object> pairs = new ArrayList<>();
            for (Map.Entry<?, ?> e : map.entrySet()) pairs.add(java.util.Arrays.asList(e.getKey(), e.getValue()));
            return pairs;
        }
    }

    /** {@code length}/{@code count}: Python's {@code len}, code points for a string. */
    private static final class Length extends PythonFilter {
        Length(String name) {
            super(name);
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            if (var == null) return 0;
            if (var instanceof String s) return s.codePointCount(0, s.length());
            if (var instanceof Collection<?> c) return c.size();
            if (var instanceof Map<?, ?> m) return m.size();
            if (var instanceof Object[] a) return a.length;
            throw new PythonError("object of type " + var.getClass().getSimpleName() + " has no len()");
        }
    }

    /** A filter that is Python's str method of the same name: {@code capitalize}, {@code upper}, {@code lower}. */
    private static final class StringMethod extends PythonFilter {
        StringMethod(String name) {
            super(name);
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            return PythonStrings.call(PythonValues.str(var), getName(), new Object[0]);
        }
    }

    /**
     * Jinja2's {@code title}: every word — what follows a run of spaces, hyphens or opening brackets — with its first
     * character upper-cased and the rest lower-cased (not quite Python's {@code str.title}).
     */
    private static final class Title extends PythonFilter {
        private static final Pattern WORD_BEGINNING = Pattern.compile("(?<=[-\\s({\\[<])(?=[^-\\s({\\[<])|(?<=[^-\\s({\\[<])(?=[-\\s({\\[<])");

        Title() {
            super("title");
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            StringBuilder out = new StringBuilder();
            for (String item : WORD_BEGINNING.split(PythonValues.str(var), -1)) {
                if (item.isEmpty()) continue;
                int first = item.codePointAt(0);
                out.append(Character.toString(first).toUpperCase(Locale.ROOT))
                        .append(item.substring(Character.charCount(first)).toLowerCase(Locale.ROOT));
            }
            return out.toString();
        }
    }

    /** Jinja2's {@code string}: Python's {@code str()}. */
    private static final class Str extends PythonFilter {
        Str() {
            super("string");
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            return PythonValues.str(var);
        }
    }
}
