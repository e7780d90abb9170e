package millrace.faults;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import millrace.protocol.JsonSerde;

/**
 * The corpus the fault suite streams in: JSON-lines files of real English text (the KJV, a few verses per document,
 * each with an id the audit knows), written one file at a time into the directory the ingest role watches, with
 * malformed lines mixed in (JSON cut short, invalid UTF-8, no text field, not an object). Files appear whole (written
 * beside the directory and renamed into it), as a producer of files should make them.
 */
public final class CorpusFeed {
    private final List<String> passages;
    private final Path dir;
    private final Random random;
    private final List<String> validIds = new ArrayList<>();
    private int malformed;
    private int files;
    private int next;

    /**
     * @param kjv the KJV books, one verse per line ({@code Ge1:1 In the beginning ...})
     * @param versesPerDocument verses joined into one document
     */
    public CorpusFeed(Path kjv, int versesPerDocument, Path dir, long seed) throws IOException {
        List<String> verses = new ArrayList<>();
        try (Stream<Path> books = Files.list(kjv)) {
            for (Path book : books.sorted().toList()) {
                for (String line : Files.readAllLines(book, StandardCharsets.UTF_8)) {
                    int space = line.indexOf(' ');
                    if (space > 0 && !line.isBlank()) verses.add(line.substring(space + 1).trim());
                }
            }
        }
        this.passages = new ArrayList<>();
        for (int i = 0; i + versesPerDocument <= verses.size(); i += versesPerDocument) {
            passages.add(String.join(" ", verses.subList(i, i + versesPerDocument)));
        }
        this.dir = dir;
        this.random = new Random(seed);
    }

    /**
     * Writes the next file: {@code documents} valid lines (ids {@code <prefix>-<n>}) and, at random places,
     * {@code malformedShare} of that many malformed ones.
     */
    public Path writeFile(String prefix, int documents, double malformedShare) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int bad = (int) Math.round(documents * malformedShare);
        List<Boolean> lines = new ArrayList<>();
        for (int i = 0; i < documents; i++) lines.add(true);
        for (int i = 0; i < bad; i++) lines.add(random.nextInt(lines.size() + 1), false);
        for (boolean valid : lines) {
            if (valid) {
                String id = prefix + "-" + next;
                String text = passages.get(next++ % passages.size());
                out.writeBytes(JsonSerde.MAPPER.writeValueAsBytes(java.util.Map.of("id", id, "text", text)));
                validIds.add(id);
            } else {
                out.writeBytes(malformedLine());
                malformed++;
            }
            out.write('\n');
        }
        String name = String.format("%s-%05d.jsonl", prefix, files++);
        Path tmp = dir.resolveSibling("." + name + ".tmp"); // beside the watched directory, not in it
        Files.write(tmp, out.toByteArray());
        return Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE);
    }

    private byte[] malformedLine() {
        String passage = passages.get(random.nextInt(passages.size()));
        return switch (random.nextInt(4)) {
            case 0 -> ("{\"id\":\"cut\",\"text\":\"" + passage.substring(0, passage.length() / 2)).getBytes(StandardCharsets.UTF_8);
            case 1 -> {
                byte[] ok = ("{\"text\":\"" + passage + "\"}").getBytes(StandardCharsets.UTF_8);
                ok[10 + random.nextInt(ok.length - 14)] = (byte) 0xC3; // a lead byte followed by ASCII: not UTF-8
                ok[ok.length - 3] = (byte) 0xFF;
                yield ok;
            }
            case 2 -> ("{\"id\":\"no-text\",\"body\":\"" + passage + "\"}").getBytes(StandardCharsets.UTF_8);
            default -> ("[\"" + passage + "\"]").getBytes(StandardCharsets.UTF_8);
        };
    }

    /**
     * Writes {@code count} mutated files ({@code <prefix>-<n>.<ext>}): a valid JSON-lines file with bytes flipped, cut
     * short, or NULs inserted; random binary; a gzip cut in half; an empty file. Returns their names.
     */
    public List<String> writeMutated(String prefix, int count, Random random) throws IOException {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            ByteArrayOutputStream valid = new ByteArrayOutputStream();
            for (int j = 0; j < 5; j++) {
                String text = passages.get(random.nextInt(passages.size()));
                valid.writeBytes(JsonSerde.MAPPER.writeValueAsBytes(java.util.Map.of("id", prefix + "-" + i + "-" + j, "text", text)));
                valid.write('\n');
            }
            byte[] b = valid.toByteArray();
            String ext = "jsonl";
            switch (random.nextInt(6)) {
                case 0 -> {
                    for (int k = 0; k < 1 + random.nextInt(20); k++) b[random.nextInt(b.length)] = (byte) random.nextInt(256);
                }
                case 1 -> b = java.util.Arrays.copyOf(b, random.nextInt(b.length));
                case 2 -> {
                    for (int k = 0; k < 1 + random.nextInt(5); k++) b[random.nextInt(b.length)] = 0;
                }
                case 3 -> {
                    b = new byte[random.nextInt(100_000)];
                    random.nextBytes(b);
                    ext = random.nextBoolean() ? "jsonl" : "txt";
                }
                case 4 -> {
                    ByteArrayOutputStream gz = new ByteArrayOutputStream();
                    try (var z = new java.util.zip.GZIPOutputStream(gz)) {
                        z.write(b);
                    }
                    byte[] whole = gz.toByteArray();
                    b = java.util.Arrays.copyOf(whole, whole.length / 2);
                    ext = "jsonl.gz";
                }
                default -> b = new byte[0];
            }
            String name = String.format("%s-%05d.%s", prefix, i, ext);
            Path tmp = dir.resolveSibling("." + name + ".tmp");
            Files.write(tmp, b);
            Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE);
            names.add(name);
        }
        return names;
    }

    /** Ids of the valid documents written so far. */
    public List<String> validIds() {
        return List.copyOf(validIds);
    }

    /** Malformed lines written so far. */
    public int malformed() {
        return malformed;
    }
}
