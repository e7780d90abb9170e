package millrace.tokenizer;

import millrace.protocol.Split;

/** The deterministic train/validation split: a function of the document id alone, stable across runs. */
public final class Splits {
    private Splits() {}

    public static Split of(String docId, double validationShare) {
        int bucket = Math.floorMod(fnv1a(docId), 10_000);
        return bucket < Math.round(validationShare * 10_000) ? Split.VAL : Split.TRAIN;
    }

    private static int fnv1a(String s) {
        int h = 0x811c9dc5;
        for (int i = 0; i < s.length(); i++) {
            h ^= s.charAt(i);
            h *= 0x01000193;
        }
        return h;
    }
}
