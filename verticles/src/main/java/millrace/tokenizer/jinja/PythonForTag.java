package millrace.tokenizer.jinja;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.ForTag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.tree.parse.TagToken;
import com.hubspot.jinjava.util.ForLoop;
import com.hubspot.jinjava.util.ObjectIterator;
import com.hubspot.jinjava.util.ObjectTruthValue;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.commons.lang3.tuple.Pair;

/**
 * Jinja2's {@code for}, where Jinjava's differs: every iteration starts from the variables outside the loop (a
 * {@code set} in one iteration is gone in the next, which is why templates use {@code namespace}), a loop may filter
 * ({@code for m in messages if m.role == 'user'}: {@code loop.index} counts the kept items), a string loops over its
 * characters, and {@code loop.previtem}/{@code loop.nextitem} exist. {@code break} and {@code continue} are Jinjava's.
 */
final class PythonForTag extends ForTag {
    private static final long serialVersionUID = 1L;

    @Override
    public String getEndTagName() {
        return "endfor"; // Tag's default formats it anew at every look-up
    }

    @Override
    public String interpretUnchecked(TagNode tagNode, JinjavaInterpreter interpreter) {
        Pair<List<String>, String> varsAndExpression = getLoopVarsAndExpression((TagToken) tagNode.getMaster());
        List<String> vars = varsAndExpression.getLeft();
        String[] iterableAndFilter = splitFilter(varsAndExpression.getRight());
        Object collection = interpreter.resolveELExpression(iterableAndFilter[0], tagNode.getLineNumber());
        List<Object> items = new ArrayList<>();
        if (collection instanceof String s) {
            s.codePoints().forEach(c -> items.add(Character.toString(c)));
        } else {
            for (Iterator<Object> it = ObjectIterator.getLoop(collection); it.hasNext(); ) items.add(it.next());
        }
        if (iterableAndFilter[1] != null) {
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                try (JinjavaInterpreter.InterpreterScopeClosable scope = interpreter.enterScope()) {
                    bind(interpreter, vars, interpreter.wrap(item));
                    if (ObjectTruthValue.evaluate(interpreter.resolveELExpression(iterableAndFilter[1], tagNode.getLineNumber()))) {
                        kept.add(item);
                    }
                }
            }
            items.clear();
            items.addAll(kept);
        }
        Loop loop = new Loop(items);
        StringBuilder out = new StringBuilder();
        try (JinjavaInterpreter.InterpreterScopeClosable loopScope = interpreter.enterScope()) {
            interpreter.getContext().put(LOOP, loop);
            while (loop.hasNext()) {
                Object item = interpreter.wrap(loop.next());
                try (JinjavaInterpreter.InterpreterScopeClosable iterationScope = interpreter.enterScope()) {
                    bind(interpreter, vars, item);
                    for (Node node : tagNode.getChildren()) {
                        out.append(node.render(interpreter));
                        if (loop.isContinued()) break; // continue or break: the rest of this iteration is skipped
                    }
                }
            }
        }
        return out.toString();
    }

    /**
     * The iterable's expression and the filter's (null without one). Jinja2 reads a conditional expression in a loop's
     * iterable only inside brackets, so an {@code if} at the top level is always the filter.
     */
    static String[] splitFilter(String expression) {
        int depth = 0;
        for (int i = 0; i < expression.length(); i++) {
            char c = expression.charAt(i);
            if (c == '\'' || c == '"') {
                for (i++; i < expression.length() && expression.charAt(i) != c; i++) if (expression.charAt(i) == '\\') i++;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (depth == 0 && expression.startsWith("if", i) && (i == 0 || isSpace(expression.charAt(i - 1)))
                    && i + 2 < expression.length() && isSpace(expression.charAt(i + 2))) {
                return new String[] {expression.substring(0, i).trim(), expression.substring(i + 2).trim()};
            }
        }
        String trimmed = expression.trim();
        if (trimmed.endsWith(" recursive")) throw new PythonError("recursive loops are not supported");
        return new String[] {trimmed, null};
    }

    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
    }

    /** The loop variables for one item: the item itself, or its parts ({@code for key, value in d.items()}). */
    private static void bind(JinjavaInterpreter interpreter, List<String> vars, Object item) {
        if (vars.size() == 1) {
            interpreter.getContext().put(vars.get(0), item);
            return;
        }
        List<?> parts;
        if (item instanceof Map.Entry<?, ?> e) parts = java.util.Arrays.asList(e.getKey(), e.getValue());
        else if (item instanceof List<?> list) parts = list;
        else throw new PythonError("cannot unpack " + PythonValues.repr(item) + " into " + String.join(", ", vars));
        if (parts.size() != vars.size()) {
            throw new PythonError("cannot unpack " + parts.size() + " values into " + String.join(", ", vars));
        }
        for (int i = 0; i < vars.size(); i++) interpreter.getContext().put(vars.get(i), interpreter.wrap(parts.get(i)));
    }

    /** Jinjava's loop object (what {@code break} and {@code continue} act on) with Jinja2's neighbours. */
    public static final class Loop extends ForLoop {
        private final List<Object> items;

        Loop(List<Object> items) {
            super(items.iterator(), items.size());
            this.items = items;
        }

        public Object getPrevitem() {
            return getIndex0() > 0 ? items.get(getIndex0() - 1) : null;
        }

        public Object getNextitem() {
            return getIndex0() + 1 < items.size() ? items.get(getIndex0() + 1) : null;
        }
    }
}
