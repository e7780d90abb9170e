package millrace.protocol;

/** Which side of the deterministic train/validation split a shard belongs to. */
public enum Split {
    TRAIN,
    VAL;

    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
