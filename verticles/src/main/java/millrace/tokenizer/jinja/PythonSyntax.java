package millrace.tokenizer.jinja;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.AdditionOperator;
import com.hubspot.jinjava.el.ext.AstNamedParameter;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import com.hubspot.jinjava.el.ext.StringConcatOperator;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstBracket;
import jinjava.de.odysseus.el.tree.impl.ast.AstDot;
import jinjava.de.odysseus.el.tree.impl.ast.AstIdentifier;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstParameters;
import jinjava.de.odysseus.el.tree.impl.ast.AstRightValue;
import jinjava.de.odysseus.el.tree.impl.ast.AstUnary;
import jinjava.javax.el.ELContext;

/**
 * Expressions parsed as Jinja2 parses them, where Jinjava's parser differs:
 * <ul>
 *   <li>{@code not} binds looser than comparisons, tests and filters: {@code not tools is none} is
 *       {@code not (tools is none)}, {@code not x|length == 1} is {@code not ((x|length) == 1)} (Jinjava negates
 *       {@code tools}, then tests the boolean);</li>
 *   <li>a unary minus applies to the filtered value: {@code -x|abs} is {@code -(x|abs)};</li>
 *   <li>Python's {@code +}, {@code ~}, {@code and}, {@code ==} ({@link PythonOperators});</li>
 *   <li>an unknown filter or test is an error, not nothing;</li>
 *   <li>a keyword argument's value is a whole expression: {@code namespace(last=messages|length - 1)} (Jinjava reads
 *       {@code (last=messages|length) - 1});</li>
 *   <li>Python's slices, {@code seq[start:stop:step]}, as chat templates use them: {@code messages[1:]} to drop a
 *       system message, {@code messages[::-1]} to walk back to the last user turn. Jinjava parses {@code [a:b]} but
 *       not a step, and clamps negative bounds otherwise; these are evaluated as Python does, on lists and on strings
 *       (by code point).</li>
 * </ul>
 */
final class PythonSyntax {
    private PythonSyntax() {}

    /** Python's index normalisation for slice bounds: negative counts from the end, then clamped to [0, length]. */
    static int clampIndex(int index, int length) {
        if (index < 0) index += length;
        return Math.max(0, Math.min(length, index));
    }

    /** {@code items[start:stop:step]} (null bounds are omitted ones). */
    static List<Object> slice(List<?> items, Integer start, Integer stop, int step) {
        List<Object> out = new ArrayList<>();
        int n = items.size();
        if (step > 0) {
            int from = start == null ? 0 : clampIndex(start, n);
            int to = stop == null ? n : clampIndex(stop, n);
            for (int i = from; i < to; i += step) out.add(items.get(i));
        } else {
            // walking backwards the bounds clamp to [-1, n-1]
            int from = start == null ? n - 1 : backwardBound(start, n);
            int to = stop == null ? -1 : backwardBound(stop, n);
            for (int i = from; i > to; i += step) out.add(items.get(i));
        }
        return out;
    }

    private static int backwardBound(int index, int n) {
        if (index < 0) index += n;
        return Math.max(-1, Math.min(n - 1, index));
    }

    /** The value of {@code base[start:stop:step]}: a list for a sequence, a string for a string. */
    static Object slice(Object base, Integer start, Integer stop, Integer step) {
        int by = step == null ? 1 : step;
        if (by == 0) throw new PythonError("slice step cannot be zero");
        if (base instanceof String s) {
            List<Object> codePoints = new ArrayList<>();
            s.codePoints().forEach(c -> codePoints.add(c));
            StringBuilder out = new StringBuilder();
            for (Object c : slice(codePoints, start, stop, by)) out.appendCodePoint((Integer) c);
            return out.toString();
        }
        List<?> items;
        if (base instanceof List<?> list) items = list;
        else if (base instanceof Collection<?> c) items = new ArrayList<>(c);
        else if (base instanceof Object[] array) items = List.of(array);
        else throw new PythonError("cannot slice " + (base == null ? "an undefined value" : base.getClass().getSimpleName()));
        return slice(items, start, stop, by);
    }

    /** The expression tree builder with Jinja2's parser; Jinjava's expression factory instantiates it by name. */
    public static final class SyntaxBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        public SyntaxBuilder(Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new Jinja2Parser(this, expression);
        }
    }

    /**
     * Jinjava's parser in its natural-precedence mode (the only one {@link ChatJinja} uses) with Jinja2's {@code not},
     * unary minus and slices. {@link #value()} is Jinjava's own but for what follows {@code [}:
     * {@code start? (: stop? (: step?)?)?}.
     */
    static final class Jinja2Parser extends ExtendedParser {
        Jinja2Parser(Builder context, String input) {
            super(context, input);
            putExtensionHandler(StringConcatOperator.TOKEN, new ExtensionHandler(ExtensionPoint.ADD) {
                @Override
                public AstNode createAstNode(AstNode... children) {
                    return createAstBinary(children[0], children[1], PythonOperators.CONCAT);
                }
            });
        }

        /** {@code +}, {@code and}, {@code ==} and {@code !=} as Python's ({@link PythonOperators}). */
        @Override
        protected AstBinary createAstBinary(AstNode left, AstNode right, AstBinary.Operator operator) {
            AstBinary.Operator python = operator == AdditionOperator.OP ? PythonOperators.ADD
                    : operator == AstBinary.AND ? PythonOperators.AND
                    : operator == AstBinary.EQ ? PythonOperators.EQ
                    : operator == AstBinary.NE ? PythonOperators.NE
                    : operator;
            return super.createAstBinary(left, right, python);
        }

        /**
         * Where Jinjava looks a filter or a test up: an unknown one is an error here, as it is when Jinja2 compiles a
         * template (Jinjava would go on with nothing).
         */
        @Override
        protected AstDot createAstDot(AstNode base, String property, boolean lvalue) {
            if (base instanceof AstIdentifier id) {
                String name = id.getName();
                JinjavaInterpreter interpreter = JinjavaInterpreter.getCurrent();
                if (interpreter != null && name.startsWith(FILTER_PREFIX)
                        && interpreter.getContext().getFilter(name.substring(FILTER_PREFIX.length())) == null) {
                    throw new PythonError("no filter named '" + name.substring(FILTER_PREFIX.length()) + "'");
                }
                if (interpreter != null && name.startsWith(EXPTEST_PREFIX)
                        && interpreter.getContext().getExpTest(name.substring(EXPTEST_PREFIX.length())) == null) {
                    throw new PythonError("no test named '" + name.substring(EXPTEST_PREFIX.length()) + "'");
                }
            }
            return super.createAstDot(base, property, lvalue);
        }

        /** Jinja2's {@code parse_not}: {@code not} followed by a whole comparison, between {@code and} and it. */
        @Override
        protected AstNode eq(boolean required) throws Scanner.ScanException, ParseException {
            if (getToken().getSymbol() == Scanner.Symbol.NOT) {
                consumeToken();
                return createAstUnary(eq(true), AstUnary.NOT);
            }
            return super.eq(required);
        }

        /** Arguments, each {@code name=expression} or an expression, as Jinja2's {@code parse_call_args}. */
        @Override
        protected AstParameters params(Scanner.Symbol left, Scanner.Symbol right) throws Scanner.ScanException, ParseException {
            consumeToken(left);
            List<AstNode> arguments = new ArrayList<>();
            if (getToken().getSymbol() != right) {
                arguments.add(argument());
                while (getToken().getSymbol() == Scanner.Symbol.COMMA) {
                    consumeToken();
                    if (getToken().getSymbol() == right) break; // a trailing comma
                    arguments.add(argument());
                }
            }
            consumeToken(right);
            return createAstParameters(arguments);
        }

        private AstNode argument() throws Scanner.ScanException, ParseException {
            if (getToken().getSymbol() == Scanner.Symbol.IDENTIFIER && "=".equals(lookahead(0).getImage())) {
                String name = consumeToken().getImage();
                consumeToken(); // =
                return new AstNamedParameter(identifier(name), expr(true));
            }
            return expr(true);
        }

        /** A unary minus or plus applies to its operand with filters and tests, as Jinja2's {@code parse_unary}. */
        @Override
        protected AstNode unary(boolean required) throws Scanner.ScanException, ParseException {
            if (getToken().getSymbol() == Scanner.Symbol.MINUS) {
                consumeToken();
                return createAstUnary(filter(true), AstUnary.NEG);
            }
            return super.unary(required);
        }

        @Override
        protected AstNode value() throws Scanner.ScanException, ParseException {
            boolean lvalue = true;
            AstNode v = nonliteral();
            if (v == null) {
                v = literal();
                if (v == null) return null;
                lvalue = false;
            }
            while (true) {
                switch (getToken().getSymbol()) {
                    case DOT -> {
                        consumeToken();
                        String name = consumeToken(Scanner.Symbol.IDENTIFIER).getImage();
                        AstDot dot = createAstDot(v, name, lvalue);
                        v = getToken().getSymbol() == Scanner.Symbol.LPAREN && context.isEnabled(Builder.Feature.METHOD_INVOCATIONS)
                                ? createAstMethod(dot, params()) : dot;
                    }
                    case LBRACK -> {
                        consumeToken();
                        AstNode first = expr(false);
                        if (getToken().getSymbol() == Scanner.Symbol.COLON) {
                            consumeToken();
                            AstNode stop = expr(false);
                            AstNode step = null;
                            if (getToken().getSymbol() == Scanner.Symbol.COLON) {
                                consumeToken();
                                step = expr(false);
                            }
                            consumeToken(Scanner.Symbol.RBRACK);
                            v = new AstSlice(v, first, stop, step);
                        } else {
                            consumeToken(Scanner.Symbol.RBRACK);
                            AstBracket bracket = createAstBracket(v, first, lvalue, !context.isEnabled(Builder.Feature.NULL_PROPERTIES));
                            v = getToken().getSymbol() == Scanner.Symbol.LPAREN && context.isEnabled(Builder.Feature.METHOD_INVOCATIONS)
                                    ? createAstMethod(bracket, params()) : bracket;
                        }
                    }
                    default -> {
                        return v;
                    }
                }
            }
        }
    }

    /** {@code base[start:stop:step]}, evaluated as Python does. */
    static final class AstSlice extends AstRightValue {
        private final AstNode base;
        private final AstNode start;
        private final AstNode stop;
        private final AstNode step;

        AstSlice(AstNode base, AstNode start, AstNode stop, AstNode step) {
            this.base = base;
            this.start = start;
            this.stop = stop;
            this.step = step;
        }

        @Override
        public Object eval(Bindings bindings, ELContext context) {
            return slice(base.eval(bindings, context), bound(start, bindings, context), bound(stop, bindings, context),
                    bound(step, bindings, context));
        }

        private static Integer bound(AstNode node, Bindings bindings, ELContext context) {
            if (node == null) return null;
            Object value = node.eval(bindings, context);
            if (value == null) return null;
            if (!(value instanceof Number n)) throw new PythonError("slice indices must be integers, not " + PythonValues.repr(value));
            return n.intValue();
        }

        @Override
        public void appendStructure(StringBuilder b, Bindings bindings) {
            base.appendStructure(b, bindings);
            b.append('[');
            if (start != null) start.appendStructure(b, bindings);
            b.append(':');
            if (stop != null) stop.appendStructure(b, bindings);
            if (step != null) {
                b.append(':');
                step.appendStructure(b, bindings);
            }
            b.append(']');
        }

        @Override
        public int getCardinality() {
            return 4;
        }

        @Override
        public AstNode getChild(int i) {
            return switch (i) {
                case 0 -> base;
                case 1 -> start;
                case 2 -> stop;
                case 3 -> step;
                default -> null;
            };
        }

        @Override
        public String toString() {
            return "[::]";
        }
    }
}
