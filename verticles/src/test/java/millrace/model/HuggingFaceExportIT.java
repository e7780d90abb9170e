package millrace.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import millrace.ExternalTools;
import millrace.cli.Main;
import millrace.protocol.JsonSerde;
import millrace.tokenizer.BpeTrainer;
import millrace.tokenizer.ByteLevelBpe;
import millrace.tokenizer.Pretokenizer;
import millrace.train.CheckpointStore;
import millrace.train.ModelTrainer;
import millrace.train.TrainSettings;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code millrace export --format hf} writes a GPT-2 directory whose logits an independent PyTorch implementation of
 * GPT2LMHeadModel reproduces, and {@code millrace import} turns it back into a checkpoint training continues from.
 */
class HuggingFaceExportIT {
    @TempDir
    Path dir;

    private static float[][] logits(LanguageModel gpt, int[] ids, NDManager manager) {
        try (NDManager scope = manager.newSubManager()) {
            gpt.attachTo(scope);
            long[] l = java.util.Arrays.stream(ids).asLongStream().toArray();
            NDArray out = gpt.forward(scope.create(l, new Shape(1, ids.length)), false);
            float[] flat = out.toFloatArray();
            int v = gpt.config().vocabSize();
            float[][] rows = new float[ids.length][v];
            for (int t = 0; t < ids.length; t++) System.arraycopy(flat, t * v, rows[t], 0, v);
            return rows;
        }
    }

    /** Plain, and a chat model (fine-tuned: the chat markers are special tokens the export and import must keep). */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void exportedDirectoryGivesTheSameLogitsAndImportContinuesTraining(boolean chat) throws Exception {
        BpeTrainer vocabulary = new BpeTrainer(Pretokenizer.GPT2);
        vocabulary.add(Files.readString(Path.of("../corpus/kjv/65-Jude.txt")));
        // the chat model's markers appended after the last id (as to r50k); a plain model's vocabulary may have them too —
        // only a fine-tuned model is a chat model
        ByteLevelBpe tokenizer = chat ? millrace.tokenizer.ChatTemplate.withMarkers(vocabulary.train("t", 400, 2, List.of("<|endoftext|>")))
                : vocabulary.train("t", 400, 2, BpeTrainer.DEFAULT_SPECIALS);
        int block = 48;
        TrainSettings demo = TrainSettings.tinyDemo("t", tokenizer.vocabSize(), block);
        TrainSettings settings = new TrainSettings("m", Gpt2Config.tiny(tokenizer.vocabSize(), block), "t", 4,
                demo.schedule(), demo.clipNorm(), demo.adam(), 3, 60, 2, 0);
        int[] encoded = chat ? tokenizer.encodeWithSpecials("<|im_start|>user\nWho was Jude?<|im_end|>\n<|im_start|>assistant\nA servant")
                : tokenizer.encode("Jude, the servant of Jesus Christ, and brother of James");
        int[] ids = java.util.Arrays.copyOf(encoded, Math.min(16, encoded.length));
        Path checkpoint;
        float[][] original;
        try (NDManager root = ModelTrainer.newRootManager()) {
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(3);
            ModelTrainer trainer = new ModelTrainer(settings, root, LanguageModel.initialize(settings.model(), root), 0, 0);
            Random r = new Random(1);
            for (int s = 0; s < 3; s++) {
                List<int[]> rows = new ArrayList<>();
                for (int i = 0; i < 4; i++) rows.add(r.ints(17, 0, tokenizer.vocabSize()).toArray());
                trainer.step(rows);
            }
            if (chat) { // and a fine-tuning step, so that the markers' rows are trained weights
                var conversation = millrace.sft.PromptFormat.of(tokenizer, true).conversation(List.of(
                        new millrace.protocol.ChatMessage("user", "Who was Jude?"),
                        new millrace.protocol.ChatMessage("assistant", "A servant of Jesus Christ.")), block);
                millrace.sft.SftStep.step(trainer, List.of(conversation), true);
            }
            checkpoint = new CheckpointStore(dir.resolve("data/checkpoints"), "m", 2).write(trainer,
                    new CheckpointFormat.Meta("m", settings.model(), tokenizer.id(), 3, 0, 1f, null, 1L, null, 3L), tokenizer, chat);
            original = logits(trainer.model(), ids, root);
            trainer.close();
        }

        Path hf = dir.resolve("hf");
        assertEquals(0, new CommandLine(new Main()).execute("export", "--checkpoint", checkpoint.toString(), "--format", "hf",
                "--out", hf.toString()));
        JsonNode config = JsonSerde.MAPPER.readTree(hf.resolve("config.json").toFile());
        assertEquals("gpt2", config.get("model_type").asText());
        assertEquals("GPT2LMHeadModel", config.get("architectures").get(0).asText());
        assertEquals(tokenizer.vocabSize(), config.get("vocab_size").asInt());
        assertEquals("gelu_new", config.get("activation_function").asText());
        assertTrue(Files.exists(hf.resolve("tokenizer.json")));
        JsonNode tokenizerConfig = JsonSerde.MAPPER.readTree(hf.resolve("tokenizer_config.json").toFile());
        if (chat) {
            // transformers users get the same prompt and stop at the same token
            assertEquals(millrace.tokenizer.ChatTemplate.JINJA, tokenizerConfig.get("chat_template").asText());
            assertEquals("<|im_end|>", tokenizerConfig.get("eos_token").asText());
            assertEquals((int) tokenizer.specials().get("<|im_end|>"), config.get("eos_token_id").asInt());
            JsonNode added = JsonSerde.MAPPER.readTree(hf.resolve("tokenizer.json").toFile()).get("added_tokens");
            java.util.Map<String, Integer> specials = new java.util.HashMap<>();
            for (JsonNode t : added) if (t.get("special").asBoolean()) specials.put(t.get("content").asText(), t.get("id").asInt());
            assertEquals(tokenizer.specials(), specials);
        } else {
            assertFalse(tokenizerConfig.has("chat_template"));
        }
        String header = new String(Files.readAllBytes(hf.resolve("model.safetensors")), 8, 4000, StandardCharsets.ISO_8859_1);
        assertTrue(header.contains("\"transformer.h.0.attn.c_attn.weight\""), header);
        assertTrue(header.contains("\"transformer.wte.weight\""), header);

        // Millrace reads it back: the same logits, bit for bit
        try (NDManager root = ModelTrainer.newRootManager()) {
            LanguageModel back = HuggingFace.load(hf, root);
            float[][] again = logits(back, ids, root);
            for (int t = 0; t < ids.length; t++) assertArrayEquals(original[t], again[t], 0f);
        }

        // an independent GPT2LMHeadModel forward pass in PyTorch gives the same logits
        Path python = Path.of("/usr/bin/python3");
        Optional<String> torch = torchAvailable(python);
        if (torch.isPresent()) {
            List<String> cmd = new ArrayList<>(List.of(python.toString(), ExternalTools.repo().resolve("bench/hf_logits.py").toString(),
                    hf.toString()));
            for (int id : ids) cmd.add(Integer.toString(id));
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            JsonNode theirs = JsonSerde.MAPPER.readTree(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor());
            double worst = 0;
            for (int t = 0; t < ids.length; t++) {
                for (int v = 0; v < original[t].length; v++) {
                    worst = Math.max(worst, Math.abs(original[t][v] - theirs.get(t).get(v).asDouble()));
                }
            }
            System.err.println("PyTorch " + torch.get() + " GPT-2 forward vs Millrace: largest logit difference " + worst);
            assertTrue(worst < 1e-4, "largest logit difference " + worst);
        } else {
            ExternalTools.requireFile(Path.of("/usr/lib/python3/dist-packages/torch"), "apt-get install python3-torch");
        }

        // import: a step-0 checkpoint a trainer continues from
        assertEquals(0, new CommandLine(new Main()).execute("import", "--hf", hf.toString(), "--data-dir",
                dir.resolve("imported").toString(), "--model-name", "m"));
        Path imported = dir.resolve("imported/checkpoints/m/step-000000000");
        assertEquals(tokenizer.id(), CheckpointFormat.loadTokenizer(imported).id());
        assertEquals(tokenizer.specials(), CheckpointFormat.loadTokenizer(imported).specials(), "the special tokens survive");
        assertEquals(chat, millrace.tokenizer.Vocabularies.chatTemplate(imported.resolve(CheckpointFormat.TOKENIZER_CONFIG)).isPresent());
        try (NDManager root = ModelTrainer.newRootManager()) {
            ModelTrainer resumed = CheckpointStore.resume(imported, settings, root);
            assertArrayEquals(original[0], logits(resumed.model(), ids, root)[0], 0f);
            List<int[]> rows = new ArrayList<>();
            for (int i = 0; i < 4; i++) rows.add(new Random(i).ints(17, 0, tokenizer.vocabSize()).toArray());
            ModelTrainer.StepResult step = resumed.step(rows);
            assertFalse(step.skipped());
            assertEquals(1, step.step());
            assertNotEquals(original[0][0], logits(resumed.model(), ids, root)[0][0]);
            resumed.close();
        }
    }

    private static Optional<String> torchAvailable(Path python) {
        if (!Files.isExecutable(python)) return Optional.empty();
        try {
            Process p = new ProcessBuilder(python.toString(), "-c", "import torch; print(torch.__version__)").start();
            String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            return p.waitFor() == 0 ? Optional.of(v) : Optional.empty();
        } catch (Exception e) {
            return Optional.empty();
        }
    }
}
