package millrace.tokenizer.jinja;

import java.beans.FeatureDescriptor;
import java.util.Iterator;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's str in expressions: {@code content.startswith('<tool_response>')}, {@code content.split('</think>')[-1]}
 * call {@link PythonStrings}, and {@code s[0]}, {@code s[-1]} index code points. Everything else is left to Jinjava's
 * resolvers that come after this one.
 */
final class PythonMethodResolver extends ELResolver {
    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || method == null) return null;
        Object result = PythonStrings.call(s, method.toString(), params == null ? new Object[0] : params);
        if (result == PythonStrings.NO_SUCH_METHOD) return null;
        context.setPropertyResolved(true);
        return result;
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        if (!(base instanceof String s) || property == null) return null;
        Integer index = integer(property);
        if (index == null) return null;
        context.setPropertyResolved(true);
        int length = s.codePointCount(0, s.length());
        int i = index < 0 ? index + length : index;
        if (i < 0 || i >= length) return null; // Jinja2 turns the IndexError into an undefined value
        return Character.toString(s.codePointAt(s.offsetByCodePoints(0, i)));
    }

    /** An index, as Jinjava passes it: a number, or its text. */
    private static Integer integer(Object property) {
        if (property instanceof Number n) return n.intValue();
        String text = property.toString();
        return text.matches("-?\\d{1,9}") ? Integer.valueOf(text) : null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // strings are immutable: leave it to the resolvers after this one to refuse
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return base instanceof String ? Object.class : null;
    }
}
