package millrace.sft;

import millrace.model.CheckpointFormat;
import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import millrace.model.LanguageModel;
import millrace.model.Sampler;
import millrace.protocol.ChatMessage;
import millrace.protocol.SftExample;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;
import millrace.train.ModelTrainer;

/**
 * {@code ./millrace eval --sft}: a checkpoint on held-out conversations — the answer tokens' loss and perplexity, the
 * share of greedy answers that end with the end-of-turn token, and exact match and token F1 of those answers against
 * the references. A model that is not a chat model yet (a pretrained checkpoint) is measured as fine-tuning would start
 * from it: the chat markers added, their embedding rows the mean of the others — the "before" of a fine-tuning run.
 */
public final class SftEval {
    /** The figures, and a few answers to read. */
    /**
     * @param examples those scored for the loss; {@code answered} of them had room in the context to be answered
     *     (the end-of-turn rate, exact match and F1 are over those)
     */
    public record Result(int examples, int tooLong, int answered, double answerLoss, double answerPerplexity,
            double endOfTurnRate, double exactMatch, double tokenF1, List<Map<String, String>> samples) {}

    private SftEval() {}

    public static Result evaluate(Path checkpoint, List<SftExample> examples, int maxNewTokens, int samples) throws IOException {
        try (NDManager root = ModelTrainer.newRootManager()) {
            ByteLevelBpe tokenizer = CheckpointFormat.loadTokenizer(checkpoint);
            LanguageModel gpt = CheckpointFormat.loadModel(checkpoint, root);
            // a chat model is asked in its own template; any other in ChatML, with the markers added if it lacks them
            java.util.Optional<ChatTemplate> own = ChatTemplate.read(checkpoint, tokenizer);
            if (own.isEmpty() && !ChatTemplate.supports(tokenizer)) {
                tokenizer = ChatTemplate.withMarkers(tokenizer);
                LanguageModel grown = gpt.withVocabulary(tokenizer.vocabSize(), root);
                gpt.close();
                gpt = grown;
            }
            PromptFormat format = own.isPresent() ? PromptFormat.of(tokenizer, own.get()) : PromptFormat.of(tokenizer, true);
            int block = gpt.config().contextLength();
            List<ScoredSequence> rows = new ArrayList<>();
            int tooLong = 0;
            int ended = 0;
            int exact = 0;
            double f1 = 0;
            int answered = 0;
            List<Map<String, String>> shown = new ArrayList<>();
            for (SftExample e : examples) {
                ScoredSequence row = format.conversation(e.messages(), block);
                if (row == null) {
                    tooLong++;
                    continue;
                }
                rows.add(row);
                // the last assistant turn is the reference; everything before it is the conversation to answer
                int last = lastAssistant(e.messages());
                String reference = e.messages().get(last).content();
                int[] prompt = format.template().render(e.messages().subList(0, last), true).ids();
                int room = block - prompt.length;
                if (room < 1) continue;
                int[] answer = Sampler.generate(gpt, prompt, new long[] {0}, new Sampler.Settings(Math.min(maxNewTokens, room), 0f, 0, 0),
                        format.stopTokens(), (r, t) -> { }, () -> false)[0];
                boolean finished = answer.length > 0 && format.isStop(answer[answer.length - 1]);
                String text = tokenizer.decode(finished ? java.util.Arrays.copyOf(answer, answer.length - 1) : answer).strip();
                answered++;
                if (finished) ended++;
                if (normalise(text).equals(normalise(reference))) exact++;
                f1 += tokenF1(text, reference);
                if (shown.size() < samples) {
                    shown.add(Map.of("prompt", e.messages().get(last - 1).content(), "answer", text, "reference", reference,
                            "ended", Boolean.toString(finished)));
                }
            }
            double loss = rows.isEmpty() ? Double.NaN : SftStep.loss(gpt, root, rows, true);
            return new Result(rows.size(), tooLong, answered, loss, Math.exp(loss), answered == 0 ? Double.NaN : (double) ended / answered,
                    answered == 0 ? Double.NaN : (double) exact / answered, answered == 0 ? Double.NaN : f1 / answered, shown);
        }
    }

    private static int lastAssistant(List<ChatMessage> messages) {
        for (int i = messages.size() - 1; i >= 0; i--) if (messages.get(i).role().equals("assistant")) return i;
        throw new IllegalArgumentException("no assistant turn");
    }

    static String normalise(String s) {
        return s.toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{N} ]", " ").replaceAll("\\s+", " ").strip();
    }

    /** SQuAD's token F1: the overlap of the two answers' words (as multisets), harmonic mean of precision and recall. */
    static double tokenF1(String answer, String reference) {
        String[] a = normalise(answer).split(" ");
        String[] r = normalise(reference).split(" ");
        boolean noAnswer = a[0].isEmpty();
        boolean noReference = r[0].isEmpty();
        if (noAnswer || noReference) return noAnswer && noReference ? 1 : 0;
        Map<String, Integer> counts = new HashMap<>();
        for (String w : r) counts.merge(w, 1, Integer::sum);
        int common = 0;
        for (String w : a) {
            Integer c = counts.get(w);
            if (c != null && c > 0) {
                common++;
                counts.put(w, c - 1);
            }
        }
        if (common == 0) return 0;
        double precision = (double) common / a.length;
        double recall = (double) common / r.length;
        return 2 * precision * recall / (precision + recall);
    }
}
