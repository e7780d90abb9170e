package millrace.web;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/** Maps and sets that forget their oldest entries past a capacity: what the web role remembers is bounded. */
final class BoundedMaps {
    private BoundedMaps() {}

    /** Insertion-ordered; the eldest entry goes when a put passes {@code capacity}. Not thread-safe. */
    static <K, V> Map<K, V> map(int capacity) {
        return new LinkedHashMap<>(Math.min(capacity, 1024), 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
                return size() > capacity;
            }
        };
    }

    static <K> Set<K> set(int capacity) {
        return Collections.newSetFromMap(map(capacity));
    }
}
