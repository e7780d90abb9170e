package millrace.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import millrace.protocol.ChatMessage;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.jinja.ChatJinja;
import millrace.tokenizer.jinja.ChatTemplateException;

/**
 * A chat model's template: its Jinja {@code chat_template} rendered as transformers' {@code apply_chat_template}
 * renders it ({@link ChatJinja}), the rendered text tokenized as Hugging Face tokenizes it (special tokens split out,
 * the rest encoded as text), which tokens a model learns to produce (each assistant answer and the token that ends
 * it), and the tokens that end an answer when the model generates.
 *
 * <p>Millrace's own chat models speak ChatML ({@link #chatMl}): every turn is {@code <|im_start|>role\ncontent<|im_end|>\n},
 * a model asked to answer is given {@code <|im_start|>assistant\n} and stops at {@code <|im_end|>}. The two markers
 * are special tokens added to the byte-level BPE ({@link #withMarkers}); {@link #JINJA} is the template Millrace writes
 * into a chat model's {@code tokenizer_config.json}. A model from elsewhere brings its own ({@link #read}).
 *
 * <p>Which tokens are trained, for any template: for assistant turn i, the conversation before it rendered as a
 * prompt (with the generation prompt) must be a prefix of the whole conversation's text, and the answer starts where
 * that prefix ends; the answer's tokens are trained up to and including the first token that ends an answer
 * ({@link #stopTokens}); what the template writes after it (ChatML's newline, Llama 3's next header) is not. A token
 * that straddles the start of an answer (the pre-tokenizer joined the prompt's last characters with the answer's
 * first) is trained: the model has to produce it to produce the answer. What the template itself writes at the start
 * of an answer is the answer's as far as the model is concerned: Qwen3 renders the last assistant turn as
 * {@code <think>\n\n</think>\n\n} and the content (when it has no reasoning), so that empty thought is trained there —
 * it is what the model is asked to write after the prompt Qwen3's template gives it.
 */
public final class ChatTemplate {
    public static final String START = "<|im_start|>";
    public static final String END = "<|im_end|>";
    public static final String JINJA = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
            + "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
            + "{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /** The named special tokens of {@code tokenizer_config.json} that transformers passes to a template as strings. */
    static final List<String> SPECIAL_TOKEN_NAMES =
            List.of("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token");
    /** Variables transformers sets itself: a template's extra variables cannot be these. */
    private static final Set<String> RESERVED = Set.of("messages", "tools", "documents", "add_generation_prompt");
    /** An answer whose end the template is asked to write, to learn which token ends an assistant's turn. */
    private static final String PROBE_ANSWER = "Millrace probes the end of a turn.";

    /** A rendered conversation: its token ids, and for each next-token target whether it is trained on. */
    public record Rendered(int[] ids, boolean[] trained) {}

    private final ByteLevelBpe tokenizer;
    private final String jinja;
    private final ChatJinja compiled;
    /** The special tokens and extra variables the template sees besides the conversation. */
    private final Map<String, Object> variables;
    private final Set<Integer> endOfSequence;
    private final int endOfTurn;
    private final Set<Integer> stops;

    private ChatTemplate(ByteLevelBpe tokenizer, String jinja, ChatJinja compiled, Map<String, Object> variables,
            Set<Integer> endOfSequence) {
        this.tokenizer = tokenizer;
        this.jinja = jinja;
        this.compiled = compiled;
        this.variables = variables;
        this.endOfSequence = endOfSequence;
        this.endOfTurn = findEndOfTurn();
        Set<Integer> all = new TreeSet<>(endOfSequence);
        all.add(endOfTurn);
        this.stops = java.util.Collections.unmodifiableSet(all);
    }

    /**
     * A template over {@code tokenizer}.
     *
     * @param origin names the template in errors (a file, a model)
     * @param specialTokens the named special tokens as the template sees them ({@code bos_token} and the like)
     * @param endOfSequence the model's end-of-sequence ids (its end of turn is found from the template itself)
     */
    public static ChatTemplate of(ByteLevelBpe tokenizer, String jinja, String origin, Map<String, String> specialTokens,
            Collection<Integer> endOfSequence) {
        return new ChatTemplate(tokenizer, jinja, ChatJinja.compile(jinja, origin), new HashMap<>(specialTokens),
                new TreeSet<>(endOfSequence));
    }

    /**
     * Millrace's ChatML over a tokenizer with its markers, with the special tokens Millrace writes beside it
     * ({@link Vocabularies#writeHuggingFaceConfig}).
     */
    public static ChatTemplate chatMl(ByteLevelBpe tokenizer) {
        if (!supports(tokenizer)) {
            throw new IllegalArgumentException("the tokenizer has no chat markers " + START + " and " + END);
        }
        return of(tokenizer, JINJA, "Millrace's ChatML", Map.of("bos_token", "<|endoftext|>", "eos_token", END,
                "unk_token", "<|endoftext|>", "pad_token", "<|endoftext|>"), List.of(tokenizer.specials().get(END)));
    }

    /**
     * The template of a checkpoint or a Hugging Face directory, if it has one (a chat model): the
     * {@code chat_template} of its {@code tokenizer_config.json} (a string, or the one named "default" of a list) or
     * its {@code chat_template.jinja}, with the config's special tokens; the end-of-sequence ids are the config's
     * {@code eos_token} and {@code generation_config.json}'s {@code eos_token_id} (one or a list) where there is one.
     */
    public static Optional<ChatTemplate> read(Path dir, ByteLevelBpe tokenizer) throws IOException {
        Path configFile = dir.resolve("tokenizer_config.json");
        JsonNode config = Files.isRegularFile(configFile) ? readJson(configFile) : JsonSerde.MAPPER.createObjectNode();
        String jinja;
        String origin;
        JsonNode template = config.path("chat_template");
        if (template.isTextual()) {
            jinja = template.textValue();
            origin = configFile + " chat_template";
        } else if (template.isArray()) {
            jinja = null;
            for (JsonNode named : template) if ("default".equals(named.path("name").asText())) jinja = named.path("template").asText(null);
            if (jinja == null) throw new IllegalArgumentException(configFile + ": chat_template is a list without a \"default\" template");
            origin = configFile + " chat_template \"default\"";
        } else if (Files.isRegularFile(dir.resolve("chat_template.jinja"))) {
            jinja = Files.readString(dir.resolve("chat_template.jinja"));
            origin = dir.resolve("chat_template.jinja").toString();
        } else if (template.isMissingNode() || template.isNull()) {
            return Optional.empty();
        } else {
            throw new IllegalArgumentException(configFile + ": chat_template is neither a string nor a list of named templates");
        }
        Map<String, String> specialTokens = new LinkedHashMap<>();
        for (String name : SPECIAL_TOKEN_NAMES) {
            JsonNode token = config.path(name);
            // a token is its text, or an AddedToken object with its text as "content"
            String text = token.isTextual() ? token.textValue() : token.path("content").asText(null);
            if (text != null) specialTokens.put(name, text);
        }
        Set<Integer> endOfSequence = new TreeSet<>();
        String eos = specialTokens.get("eos_token");
        if (eos != null && tokenizer.specials().containsKey(eos)) endOfSequence.add(tokenizer.specials().get(eos));
        Path generationFile = dir.resolve("generation_config.json");
        if (Files.isRegularFile(generationFile)) {
            JsonNode ids = readJson(generationFile).path("eos_token_id");
            for (JsonNode id : ids.isArray() ? ids : List.of(ids)) {
                if (id.isIntegralNumber()) endOfSequence.add(id.intValue());
                else if (!id.isMissingNode() && !id.isNull()) throw new IllegalArgumentException(generationFile + ": eos_token_id is not an id or a list of ids");
            }
        }
        String name = jinja.equals(JINJA) ? "Millrace's ChatML (" + origin + ")" : origin;
        return Optional.of(of(tokenizer, jinja, name, specialTokens, endOfSequence));
    }

    private static JsonNode readJson(Path file) throws IOException {
        try {
            return JsonSerde.MAPPER.readTree(file.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": not JSON (" + e.getOriginalMessage() + ")");
        }
    }

    /**
     * This template with more variables, as {@code apply_chat_template(..., **kwargs)} passes them
     * ({@code enable_thinking=False}, {@code date_string}); they replace special tokens of the same name.
     */
    public ChatTemplate withVariables(Map<String, ?> extra) {
        for (String name : extra.keySet()) {
            if (RESERVED.contains(name)) throw new IllegalArgumentException("'" + name + "' is set by the renderer, not a template variable");
        }
        Map<String, Object> all = new HashMap<>(variables);
        all.putAll(extra);
        return new ChatTemplate(tokenizer, jinja, compiled, all, endOfSequence);
    }

    /** Whether a tokenizer has the chat markers (a ChatML model's). */
    public static boolean supports(ByteLevelBpe tokenizer) {
        return tokenizer.specials().containsKey(START) && tokenizer.specials().containsKey(END);
    }

    /** The tokenizer with the chat markers added (those it lacks) after its last id. */
    public static ByteLevelBpe withMarkers(ByteLevelBpe tokenizer) {
        return tokenizer.withSpecials(List.of(START, END));
    }

    /**
     * The tokenizers whose token streams a model with {@code tokenizer} reads as its own text: itself, and the one it
     * was before the chat markers were added (r50k's shards, say, for a model fine-tuned from an r50k one) — the
     * markers come after every other id, so text encodes the same under both.
     */
    public static Set<String> textTokenizerIds(ByteLevelBpe tokenizer) {
        return java.util.stream.Stream.of(tokenizer.id(), tokenizer.withoutSpecials(List.of(START, END)).id())
                .collect(java.util.stream.Collectors.toUnmodifiableSet());
    }

    /** What the template is called in errors: its file, or Millrace's ChatML. */
    public String origin() {
        return compiled.origin();
    }

    /** The Jinja source. */
    public String jinja() {
        return jinja;
    }

    /** Whether this is Millrace's ChatML. */
    public boolean isChatMl() {
        return jinja.equals(JINJA);
    }

    /** The token that ends an assistant's turn as the template writes it: ChatML's and Qwen's {@code <|im_end|>}, Llama 3's {@code <|eot_id|>}. */
    public int endOfTurn() {
        return endOfTurn;
    }

    /**
     * The tokens that end an answer, ascending: the end of turn and the model's end-of-sequence ids. Generation stops
     * at any of them; the trained part of an answer ends at the first.
     */
    public int[] stopTokens() {
        return stops.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The conversation as text, exactly as transformers' {@code apply_chat_template(..., tokenize=False)} renders it. */
    public String text(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return renderMessages(asMaps(messages), addGenerationPrompt);
    }

    /**
     * Messages as the template reads them — maps with {@code role}, {@code content} and whatever else it reads
     * ({@code tool_calls}, {@code reasoning_content}), in plain values — rendered as text.
     */
    public String renderMessages(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt) {
        return renderMessages(messages, null, addGenerationPrompt);
    }

    /** {@link #renderMessages(List, boolean)} with tools offered to the model (JSON schemas, as plain values), or null. */
    public String renderMessages(List<? extends Map<String, ?>> messages, List<?> tools, boolean addGenerationPrompt) {
        Map<String, Object> all = new HashMap<>(variables);
        all.put("messages", messages);
        all.put("tools", tools);
        all.put("documents", null);
        all.put("add_generation_prompt", addGenerationPrompt);
        return compiled.render(all);
    }

    /**
     * The conversation as token ids — its text with special tokens split out and the rest encoded as text, as
     * Hugging Face's tokenizer does — and which targets are trained: every assistant answer up to the token that ends
     * it (see the class comment), nothing else.
     */
    public Rendered render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> maps = asMaps(messages);
        String text = renderMessages(maps, addGenerationPrompt);
        int[] ids = tokenizer.encodeWithSpecials(text);
        boolean[] trainedToken = new boolean[ids.length]; // does the model learn to produce token t
        long[] ends = byteEnds(ids, text); // where each token ends in the text's UTF-8
        for (int i = 0; i < messages.size(); i++) {
            if (!"assistant".equals(messages.get(i).role())) continue;
            String prompt = renderMessages(maps.subList(0, i), true);
            if (!text.startsWith(prompt)) {
                throw new ChatTemplateException(compiled.origin() + ": message " + (i + 1) + " (an assistant's) cannot be "
                        + "told apart: the conversation before it, rendered as a prompt, does not begin the whole conversation");
            }
            long answerStart = prompt.getBytes(StandardCharsets.UTF_8).length;
            int t = 0;
            while (t < ids.length && ends[t] <= answerStart) t++;
            for (; t < ids.length; t++) {
                trainedToken[t] = true;
                if (stops.contains(ids[t])) break;
            }
            if (t == ids.length) {
                throw new ChatTemplateException(compiled.origin() + ": message " + (i + 1) + " (an assistant's) is not "
                        + "followed by a token that ends an answer (" + stops + ")");
            }
        }
        boolean[] trained = new boolean[Math.max(0, ids.length - 1)];
        for (int j = 0; j + 1 < ids.length; j++) trained[j] = trainedToken[j + 1]; // target j is token j+1
        return new Rendered(ids, trained);
    }

    /** The byte offset where each token ends; the tokens must spell the text exactly. */
    private long[] byteEnds(int[] ids, String text) {
        long[] ends = new long[ids.length];
        long at = 0;
        for (int t = 0; t < ids.length; t++) {
            at += tokenizer.decodeBytes(new int[] {ids[t]}).length;
            ends[t] = at;
        }
        if (at != text.getBytes(StandardCharsets.UTF_8).length) {
            throw new ChatTemplateException(compiled.origin() + ": " + tokenizer.name() + " does not spell the rendered "
                    + "conversation byte for byte (does it normalize text?): cannot tell which tokens are an answer's");
        }
        return ends;
    }

    /**
     * The end of an assistant's turn: the first special token the template writes after an answer, once the
     * conversation before it (a user's question) has been rendered as a prompt.
     */
    private int findEndOfTurn() {
        List<Map<String, Object>> question = asMaps(List.of(new ChatMessage("user", "Hello.")));
        List<Map<String, Object>> answered = asMaps(List.of(new ChatMessage("user", "Hello."), new ChatMessage("assistant", PROBE_ANSWER)));
        String prompt = renderMessages(question, true);
        String whole = renderMessages(answered, false);
        int at = whole.startsWith(prompt) ? whole.indexOf(PROBE_ANSWER, prompt.length()) : -1;
        if (at < 0) {
            throw new ChatTemplateException(compiled.origin() + ": cannot find an answer in what the template writes "
                    + "for a user's question and an assistant's answer");
        }
        for (int id : tokenizer.encodeWithSpecials(whole.substring(at + PROBE_ANSWER.length()))) {
            if (tokenizer.specials().containsValue(id)) return id;
        }
        throw new ChatTemplateException(compiled.origin() + ": no special token ends an assistant's turn, so a model "
                + "could not stop (does " + tokenizer.name() + " have the template's special tokens?)");
    }

    private static List<Map<String, Object>> asMaps(List<ChatMessage> messages) {
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            maps.add(map);
        }
        return maps;
    }
}
