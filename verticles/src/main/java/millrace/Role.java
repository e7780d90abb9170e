package millrace;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/** The jobs a Millrace process can do; any set of them runs in one JVM. */
public enum Role {
    INGEST, DEDUP, TOKENIZE, TRAIN, FEEDBACK, WEB;

    public static Set<Role> parse(String csv) {
        Set<Role> roles = EnumSet.noneOf(Role.class);
        for (String part : csv.split(",")) {
            String name = part.trim();
            if (name.isEmpty()) continue;
            if (name.equals("all")) return EnumSet.allOf(Role.class);
            try {
                roles.add(Role.valueOf(name.toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown role '" + name + "' (roles: ingest, dedup, tokenize, train, "
                        + "feedback, web, or all)");
            }
        }
        if (roles.isEmpty()) throw new IllegalArgumentException("no roles given");
        return roles;
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
