package millrace.ingest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import millrace.protocol.RejectReason;

/**
 * Expands what the user named — files, directories (recursively, in sorted order) and http(s) URLs — into
 * {@link Input}s. In directories, a file is taken when its path (relative to the directory) or its name matches an
 * include glob and no exclude glob; without include globs, every file with a reader is taken.
 */
public final class InputScanner {
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NORMAL).connectTimeout(Duration.ofSeconds(10)).build();

    /** A file found by a scan, with what tells a later scan whether it changed. */
    public record Found(Input input, Path path, long size, long modifiedMillis) {}

    private final List<PathMatcher> include;
    private final List<PathMatcher> exclude;
    private final long maxBytes;

    public InputScanner(List<String> includeGlobs, List<String> excludeGlobs, long maxBytes) {
        this.include = includeGlobs.stream().map(g -> FileSystems.getDefault().getPathMatcher("glob:" + g)).toList();
        this.exclude = excludeGlobs.stream().map(g -> FileSystems.getDefault().getPathMatcher("glob:" + g)).toList();
        this.maxBytes = maxBytes;
    }

    public static boolean isUrl(String arg) {
        return arg.startsWith("http://") || arg.startsWith("https://");
    }

    /** The files under (or at) {@code arg}; an unlistable directory becomes a rejection through {@code refused}. */
    public List<Found> files(Path arg, java.util.function.Consumer<ReadResult> refused) {
        Path root = arg.toAbsolutePath().normalize();
        String rootName = root.getFileName() == null ? "" : root.getFileName().toString();
        if (!Files.isDirectory(root)) return List.of(found(root, rootName));
        List<Found> out = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(root)) {
            // not isRegularFile: a dangling link or a special file must be reported, not skipped
            walk.filter(p -> !Files.isDirectory(p)).filter(p -> wanted(root.relativize(p))).sorted()
                    .forEach(p -> out.add(found(p, rootName + "/" + separatorsToSlash(root.relativize(p)))));
        } catch (IOException | UncheckedIOException e) {
            String source = root.toString();
            refused.accept(ReadResult.refuse(source, source, RejectReason.UNREADABLE,
                    "cannot list directory: " + e.getMessage()));
        }
        return out;
    }

    private boolean wanted(Path relative) {
        Path name = relative.getFileName();
        boolean in = include.isEmpty() ? Readers.supports(name.toString())
                : include.stream().anyMatch(m -> m.matches(relative) || m.matches(name));
        return in && exclude.stream().noneMatch(m -> m.matches(relative) || m.matches(name));
    }

    private static String separatorsToSlash(Path p) {
        return p.toString().replace(java.io.File.separatorChar, '/');
    }

    private static Found found(Path file, String idKey) {
        long size = -1;
        long modified = -1;
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            size = a.size();
            modified = a.lastModifiedTime().toMillis();
        } catch (IOException e) {
            // reported when the reader opens it
        }
        Input input = new Input(file.toString(), idKey, file.getFileName().toString(), null,
                () -> Files.newInputStream(file));
        return new Found(input, file, size, modified);
    }

    /**
     * Fetches an http(s) URL (at most the byte cap) into an input typed by the server's Content-Type; a failed fetch
     * becomes an {@code unreadable} rejection, an oversized body a {@code too_large} one.
     */
    public void fetch(String url, java.util.function.Consumer<Input> fetched, java.util.function.Consumer<ReadResult> refused) {
        try {
            HttpResponse<java.io.InputStream> response = HTTP.send(
                    HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60))
                            .header("User-Agent", "millrace-ingest").GET().build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            byte[] body;
            try (java.io.InputStream in = response.body()) {
                if (response.statusCode() / 100 != 2) {
                    refused.accept(ReadResult.refuse(url, url, RejectReason.UNREADABLE, "HTTP " + response.statusCode()));
                    return;
                }
                body = Decoding.readCapped(in, maxBytes);
            }
            String type = response.headers().firstValue("Content-Type").orElse(null);
            String path = URI.create(url).getPath();
            String name = path == null || path.isEmpty() || path.endsWith("/") ? "index.html" : path;
            fetched.accept(new Input(url, url, name, type, () -> new java.io.ByteArrayInputStream(body)));
        } catch (Decoding.TooLargeException e) {
            refused.accept(ReadResult.refuse(url, url, RejectReason.TOO_LARGE, e.getMessage()));
        } catch (IOException | IllegalArgumentException e) {
            refused.accept(ReadResult.refuse(url, url, RejectReason.UNREADABLE, e.getClass().getSimpleName() + ": " + e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            refused.accept(ReadResult.refuse(url, url, RejectReason.UNREADABLE, "interrupted"));
        }
    }
}
