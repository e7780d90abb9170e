package millrace.tokenizer;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;

/** OpenAI's published vocabularies, through the rank files bundled in JTokkit. */
public final class TiktokenTokenizer implements TextTokenizer {
    private static final EncodingRegistry REGISTRY = Encodings.newLazyEncodingRegistry();

    private final String id;
    private final Encoding encoding;
    private final int endOfText;
    private final int vocabSize;

    private TiktokenTokenizer(String id, EncodingType type, int endOfText, int vocabSize) {
        this.id = id;
        this.encoding = REGISTRY.getEncoding(type);
        this.endOfText = endOfText;
        this.vocabSize = vocabSize;
    }

    /** GPT-2's vocabulary: 50,256 merges plus {@code <|endoftext|>} = 50256. */
    public static TiktokenTokenizer r50k() {
        return new TiktokenTokenizer("r50k_base", EncodingType.R50K_BASE, 50256, 50257);
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public int[] encode(String text) {
        return encoding.encodeOrdinary(text).toArray();
    }

    @Override
    public String decode(int[] ids) {
        IntArrayList list = new IntArrayList(ids.length);
        for (int t : ids) {
            if (t != endOfText) list.add(t);
        }
        return encoding.decode(list);
    }

    @Override
    public int endOfText() {
        return endOfText;
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }
}
