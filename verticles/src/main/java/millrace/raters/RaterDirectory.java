package millrace.raters;

import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import millrace.protocol.Rater;

/**
 * Who may rate right now: the latest record per name of {@code millrace.raters}. Applied from the topic by one
 * thread, read by the HTTP handlers of another; a revocation takes effect on the next request after it is applied.
 */
public final class RaterDirectory {
    private final Map<String, Rater> byName = new ConcurrentHashMap<>();
    /**
     * Valid raters by the SHA-256 of their token. Looking a token up by its hash leaks nothing useful through timing:
     * how far a guess's hash matches a stored one says nothing about how close the guess is to the token.
     */
    private final Map<String, Rater> byHash = new ConcurrentHashMap<>();
    private volatile boolean caughtUp;

    /** Whether every rater record the topic held when this process started has been applied (readiness). */
    public boolean caughtUp() {
        return caughtUp;
    }

    public void caughtUp(boolean value) {
        caughtUp = value;
    }

    /** The newest record for a rater replaces what was known of it (a null record is a deleted rater). */
    public void apply(String name, Rater rater) {
        if (rater != null && !rater.name().equals(name)) {
            throw new millrace.protocol.InvalidPayloadException("name", "'" + rater.name() + "' under the key '" + name + "'");
        }
        Rater old = rater == null ? byName.remove(name) : byName.put(name, rater);
        if (old != null) byHash.remove(old.tokenSha256(), old);
        if (rater != null && !rater.revoked()) byHash.put(rater.tokenSha256(), rater);
    }

    /** The name of the valid rater holding {@code token}, if any. */
    public Optional<String> authenticate(String token) {
        if (token == null || token.isEmpty() || token.length() > 256) return Optional.empty();
        String hash = RaterTokens.sha256(token);
        Rater rater = byHash.get(hash);
        return rater == null || rater.revoked() ? Optional.empty() : Optional.of(rater.name());
    }

    public Optional<Rater> get(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /** Every rater ever added, revoked ones too, by name. */
    public List<Rater> all() {
        return byName.values().stream().sorted(Comparator.comparing(Rater::name)).toList();
    }

    /** Raters whose token is valid. */
    public int active() {
        return byHash.size();
    }
}
