package millrace.tokenizer.jinja;

import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.util.ObjectTruthValue;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import jinjava.de.odysseus.el.misc.NumberOperations;
import jinjava.de.odysseus.el.misc.TypeConverter;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.javax.el.ELContext;

/**
 * Python's binary operators where Java's expression language means something else: {@code +} concatenates only two
 * strings (or two lists) and refuses {@code 'x' + 1} as Python does, {@code ~} joins {@code str()}s, {@code and}
 * answers one of its operands ({@code x and 'yes'}), and {@code ==} is Python's equality (no coercion of
 * {@code '1'} to 1; lists and dicts compared item by item).
 */
final class PythonOperators {
    private PythonOperators() {}

    private static final TypeConverter NUMBERS = new TruthyTypeConverter();

    static final AstBinary.Operator ADD = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            return add(left.eval(bindings, context), right.eval(bindings, context));
        }

        @Override
        public String toString() {
            return "+";
        }
    };

    static final AstBinary.Operator CONCAT = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            return PythonValues.str(left.eval(bindings, context)) + PythonValues.str(right.eval(bindings, context));
        }

        @Override
        public String toString() {
            return "~";
        }
    };

    static final AstBinary.Operator AND = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            Object a = left.eval(bindings, context);
            return ObjectTruthValue.evaluate(a) ? right.eval(bindings, context) : a;
        }

        @Override
        public String toString() {
            return "and";
        }
    };

    static final AstBinary.Operator EQ = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            return equal(left.eval(bindings, context), right.eval(bindings, context));
        }

        @Override
        public String toString() {
            return "==";
        }
    };

    static final AstBinary.Operator NE = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            return !equal(left.eval(bindings, context), right.eval(bindings, context));
        }

        @Override
        public String toString() {
            return "!=";
        }
    };

    static Object add(Object a, Object b) {
        if (a instanceof CharSequence || b instanceof CharSequence) {
            if (a instanceof CharSequence && b instanceof CharSequence) return a.toString() + b;
            throw new PythonError(a instanceof CharSequence
                    ? "can only concatenate str (not \"" + typeName(b) + "\") to str"
                    : "unsupported operand type(s) for +: '" + typeName(a) + "' and 'str'");
        }
        if (a instanceof List<?> x && b instanceof List<?> y) {
            List<Object> joined = new ArrayList<>(x);
            joined.addAll(y);
            return joined;
        }
        if (a instanceof Number && b instanceof Number) return NumberOperations.add(NUMBERS, a, b);
        throw new PythonError("unsupported operand type(s) for +: '" + typeName(a) + "' and '" + typeName(b) + "'");
    }

    /** Python's {@code ==}: numbers by value (True is 1), strings, lists and dicts by content, nothing coerced. */
    static boolean equal(Object a, Object b) {
        if (a == null || b == null) return a == b;
        if (a instanceof Boolean x && !(b instanceof Boolean)) return b instanceof Number && equal(x ? 1L : 0L, b);
        if (b instanceof Boolean y && !(a instanceof Boolean)) return a instanceof Number && equal(a, y ? 1L : 0L);
        if (a instanceof Number x && b instanceof Number y) {
            if (integral(x) && integral(y)) return toBigInteger(x).equals(toBigInteger(y));
            return x.doubleValue() == y.doubleValue();
        }
        if (a instanceof CharSequence x && b instanceof CharSequence y) return x.toString().equals(y.toString());
        if (a instanceof List<?> x && b instanceof List<?> y) {
            if (x.size() != y.size()) return false;
            Iterator<?> i = x.iterator();
            Iterator<?> j = y.iterator();
            while (i.hasNext()) if (!equal(i.next(), j.next())) return false;
            return true;
        }
        if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
            if (x.size() != y.size()) return false;
            for (Map.Entry<?, ?> e : x.entrySet()) {
                if (!y.containsKey(e.getKey()) || !equal(e.getValue(), y.get(e.getKey()))) return false;
            }
            return true;
        }
        return a.equals(b);
    }

    private static boolean integral(Number n) {
        return n instanceof Long || n instanceof Integer || n instanceof Short || n instanceof Byte || n instanceof BigInteger;
    }

    private static BigInteger toBigInteger(Number n) {
        return n instanceof BigInteger b ? b : BigInteger.valueOf(n.longValue());
    }

    /** Python's name for a value's type, for error messages. */
    static String typeName(Object o) {
        if (o == null) return "NoneType";
        if (o instanceof Boolean) return "bool";
        if (o instanceof Double || o instanceof Float) return "float";
        if (o instanceof Number) return "int";
        if (o instanceof CharSequence) return "str";
        if (o instanceof List<?>) return "list";
        if (o instanceof Map<?, ?>) return "dict";
        return o.getClass().getSimpleName();
    }
}
