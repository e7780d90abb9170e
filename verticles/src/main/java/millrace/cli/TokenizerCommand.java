package millrace.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import com.fasterxml.jackson.databind.JsonNode;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.BpeTrainer;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.ChatTemplate;
import millrace.tokenizer.Pretokenizer;
import millrace.tokenizer.Tokenizers;
import millrace.tokenizer.Vocabularies;
import millrace.tokenizer.jinja.PythonValues;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code millrace tokenizer train|encode|decode|chat}. */
@Command(name = "tokenizer", mixinStandardHelpOptions = true, description = "Train, or use, a byte-level BPE tokenizer.",
        subcommands = {TokenizerCommand.Train.class, TokenizerCommand.Encode.class, TokenizerCommand.Decode.class,
                TokenizerCommand.Chat.class})
final class TokenizerCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Learn a vocabulary from text files (directories recursively) and write tokenizer.json.")
    static final class Train implements Callable<Integer> {
        @Option(names = "--input", split = ",", arity = "1..*", description = "Files or directories of UTF-8 text.")
        List<Path> inputs = new ArrayList<>();

        @Option(names = "--from-topic", description = "Also learn from every document on millrace.docs.clean of --kafka.")
        boolean fromTopic;

        @Option(names = "--kafka", defaultValue = "localhost:9092", description = "Bootstrap servers for --from-topic (default: ${DEFAULT-VALUE}).")
        String kafka;

        @Option(names = "--vocab-size", required = true, description = "Tokens in all: 256 bytes, merges and the specials.")
        int vocabSize;

        @Option(names = "--out", required = true, description = "Where to write tokenizer.json.")
        Path out;

        @Option(names = "--pattern", defaultValue = "gpt2", description = "Split pattern: gpt2, cl100k, o200k (default: ${DEFAULT-VALUE}).")
        String pattern;

        @Option(names = "--min-frequency", defaultValue = "2", description = "Pairs seen fewer times are not merged (default: ${DEFAULT-VALUE}).")
        long minFrequency;

        @Option(names = "--threads", description = "Threads that read and split the input (default: all cores).")
        Integer threads;

        @Override
        public Integer call() throws Exception {
            long started = System.nanoTime();
            BpeTrainer trainer = new BpeTrainer(patternOf(pattern));
            if (inputs.isEmpty() && !fromTopic) throw new IllegalArgumentException("give --input PATH... or --from-topic");
            long bytes = TokenizerCommand.readInto(trainer, inputs, threads == null ? Runtime.getRuntime().availableProcessors() : threads);
            if (fromTopic) {
                long[] topicBytes = {0};
                millrace.protocol.JsonSerde<millrace.protocol.Document> docs = millrace.protocol.JsonSerde.documents();
                long n = millrace.kafka.TopicReader.readAll(new millrace.kafka.KafkaSettings(kafka, "tokenizer-train"),
                        millrace.protocol.Topics.DOCS_CLEAN, r -> {
                            String text = docs.fromBytes(r.value()).text();
                            trainer.add(text);
                            topicBytes[0] += text.length();
                        });
                System.err.printf("read %d documents from %s%n", n, millrace.protocol.Topics.DOCS_CLEAN);
                bytes += topicBytes[0];
            }
            double read = (System.nanoTime() - started) / 1e9;
            ByteLevelBpe bpe = trainer.train(out.getFileName().toString(), vocabSize, minFrequency, BpeTrainer.DEFAULT_SPECIALS);
            Vocabularies.writeHuggingFace(bpe, out);
            System.err.printf("read %.1f MB (%d distinct pieces) in %.1f s, trained %d tokens in %.1f s: %s%n",
                    bytes / 1e6, trainer.distinctPieces(), read, bpe.vocabSize(), (System.nanoTime() - started) / 1e9 - read, bpe.id());
            return 0;
        }
    }

    /** What encode and decode read: a tokenizer, and stdin or a file. */
    static final class Source {
        @Option(names = "--tokenizer", required = true, description = "r50k, cl100k, o200k or a tokenizer.json / .tiktoken file.")
        String tokenizer;

        @Option(names = "--input", description = "A file instead of stdin.")
        Path input;

        byte[] read() throws IOException {
            return input == null ? System.in.readAllBytes() : Files.readAllBytes(input);
        }
    }

    @Command(name = "encode", mixinStandardHelpOptions = true,
            description = "Print the ids of UTF-8 text (stdin by default), one document, no special tokens.")
    static final class Encode implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Source source;

        @Override
        public Integer call() throws IOException {
            ByteLevelBpe bpe = Tokenizers.load(source.tokenizer);
            byte[] bytes = source.read();
            String text;
            try {
                text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
            } catch (CharacterCodingException e) {
                throw new IllegalArgumentException("input is not valid UTF-8");
            }
            PrintStream out = new PrintStream(new java.io.BufferedOutputStream(System.out, 1 << 16), false);
            int[] ids = bpe.encode(text);
            for (int i = 0; i < ids.length; i++) {
                if (i > 0) out.print(' ');
                out.print(ids[i]);
            }
            out.println();
            out.flush();
            return 0;
        }
    }

    @Command(name = "decode", mixinStandardHelpOptions = true,
            description = "Turn whitespace-separated ids (stdin by default) back into text.")
    static final class Decode implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Source source;

        @Override
        public Integer call() throws IOException {
            ByteLevelBpe bpe = Tokenizers.load(source.tokenizer);
            String text = new String(source.read(), StandardCharsets.US_ASCII);
            String[] parts = text.trim().isEmpty() ? new String[0] : text.trim().split("\\s+");
            int[] ids = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                try {
                    ids[i] = Integer.parseInt(parts[i]);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("not a token id: '" + parts[i] + "' (position " + i + ")");
                }
            }
            System.out.write(bpe.decodeBytes(ids));
            System.out.flush();
            return 0;
        }
    }

    @Command(name = "chat", mixinStandardHelpOptions = true,
            description = "Print a conversation as a model's chat template renders it (as transformers' "
                    + "apply_chat_template(..., tokenize=False) does), to check a template.")
    static final class Chat implements Callable<Integer> {
        @Option(names = "--tokenizer", required = true,
                description = "A model's directory: tokenizer_config.json with its chat_template (or chat_template.jinja) and tokenizer.json.")
        Path dir;

        @Option(names = "--messages", required = true, description = "A JSON list of messages: {\"role\": ..., \"content\": ...}.")
        Path messages;

        @Option(names = "--generation-prompt", description = "End with what asks the model to answer (add_generation_prompt).")
        boolean generationPrompt;

        @Option(names = "--tools", description = "A JSON list of tools (JSON schemas) offered to the model.")
        Path tools;

        @Option(names = "--var", description = "A further template variable, KEY=VALUE (VALUE as JSON if it is JSON, "
                + "else as text): --var enable_thinking=false.")
        List<String> vars = new ArrayList<>();

        @Override
        public Integer call() throws IOException {
            if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) throw new IllegalArgumentException(dir + " has no tokenizer.json");
            ByteLevelBpe bpe = Vocabularies.read(dir.resolve("tokenizer.json"));
            ChatTemplate template = ChatTemplate.read(dir, bpe).orElseThrow(() -> new IllegalArgumentException(
                    dir + " has no chat template (tokenizer_config.json's chat_template, or chat_template.jinja)"));
            java.util.Map<String, Object> variables = new java.util.LinkedHashMap<>();
            for (String v : vars) {
                int eq = v.indexOf('=');
                if (eq <= 0) throw new IllegalArgumentException("--var " + v + ": expected KEY=VALUE");
                variables.put(v.substring(0, eq), jsonOrText(v.substring(eq + 1)));
            }
            String text = template.withVariables(variables).renderMessages(messagesOf(messages), tools == null ? null : list(tools, "tools"),
                    generationPrompt);
            System.out.write(text.getBytes(StandardCharsets.UTF_8));
            System.out.flush();
            return 0;
        }

        /** The messages of a file: a list of objects, each with a role. */
        @SuppressWarnings("unchecked")
        static List<java.util.Map<String, Object>> messagesOf(Path file) throws IOException {
            List<?> list = list(file, "messages");
            for (int i = 0; i < list.size(); i++) {
                if (!(list.get(i) instanceof java.util.Map<?, ?> m) || !(m.get("role") instanceof String)) {
                    throw new IllegalArgumentException(file + ": message " + (i + 1) + " is not an object with a \"role\"");
                }
            }
            return (List<java.util.Map<String, Object>>) list;
        }

        private static List<?> list(Path file, String what) throws IOException {
            if (!Files.isRegularFile(file)) throw new IllegalArgumentException("no such file: " + file);
            JsonNode json;
            try {
                json = JsonSerde.MAPPER.readTree(file.toFile());
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalArgumentException(file + ": not JSON (" + e.getOriginalMessage() + ")");
            }
            if (json == null || !json.isArray()) throw new IllegalArgumentException(file + ": not a JSON list of " + what);
            return (List<?>) PythonValues.fromJson(json);
        }

        private static Object jsonOrText(String value) {
            try {
                JsonNode json = JsonSerde.MAPPER.reader()
                        .with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS).readTree(value);
                return json == null || json.isMissingNode() ? value : PythonValues.fromJson(json);
            } catch (IOException e) {
                return value; // not JSON ("26 Jul 2024"): the text itself
            }
        }
    }

    static String patternOf(String name) {
        return switch (name) {
            case "gpt2", "r50k" -> Pretokenizer.GPT2;
            case "cl100k" -> Pretokenizer.CL100K;
            case "o200k" -> Pretokenizer.O200K;
            default -> throw new IllegalArgumentException("unknown pattern '" + name + "' (gpt2, cl100k, o200k)");
        };
    }

    /** Feeds every text file under {@code inputs} to the trainer, {@code threads} files at a time; returns bytes read. */
    static long readInto(BpeTrainer trainer, List<Path> inputs, int threads) throws Exception {
        List<Path> files = new ArrayList<>();
        for (Path p : inputs) {
            if (!Files.exists(p)) throw new IllegalArgumentException("no such file or directory: " + p);
            try (Stream<Path> walk = Files.walk(p)) {
                walk.filter(Files::isRegularFile).sorted().forEach(files::add);
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Long>> done = new ArrayList<>();
            for (Path f : files) {
                done.add(pool.submit(() -> {
                    try (InputStream in = Files.newInputStream(f)) {
                        byte[] b = in.readAllBytes();
                        trainer.add(new String(b, StandardCharsets.UTF_8));
                        return (long) b.length;
                    }
                }));
            }
            long total = 0;
            for (Future<Long> f : done) total += f.get();
            return total;
        } finally {
            pool.shutdownNow();
        }
    }
}
