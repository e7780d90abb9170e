package millrace.faults;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One Millrace process the fault harness runs, kills and starts again: the same command line each time, its output
 * appended to one log, and a readiness probe (its ops port's {@code /ready}, or the broker's client port) that says when
 * it is back.
 */
public final class ChildProcess implements AutoCloseable {
    /** Says whether a started process is ready. */
    public interface Probe {
        boolean ready();
    }

    private final String name;
    private final List<String> command;
    private final Path log;
    private final Probe probe;
    private Process process;
    private int starts;

    public ChildProcess(String name, List<String> command, Path log, Probe probe) {
        this.name = name;
        this.command = List.copyOf(command);
        this.log = log;
        this.probe = probe;
    }

    /** A JVM running {@code millrace.cli.Main} with {@code args}, on this JVM's class path and java. */
    public static List<String> millrace(String maxHeap, List<String> args) {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx" + maxHeap, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"), "millrace.cli.Main"));
        cmd.addAll(args);
        return cmd;
    }

    /** Ready when {@code url} answers 200. */
    public static Probe httpReady(String url) {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(1)).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).GET().build();
        return () -> {
            try {
                return client.send(request, HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        };
    }

    public String name() {
        return name;
    }

    public synchronized void start() throws IOException {
        if (process != null && process.isAlive()) throw new IllegalStateException(name + " is running already");
        starts++;
        process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    public synchronized boolean alive() {
        return process != null && process.isAlive();
    }

    /** Times this process was started. */
    public synchronized int starts() {
        return starts;
    }

    /**
     * Stops it: SIGKILL at once, or SIGTERM and up to {@code grace} for its shutdown hooks (then SIGKILL). Returns
     * whether it went by itself.
     */
    public boolean kill(boolean graceful, Duration grace) throws InterruptedException {
        Process p;
        synchronized (this) {
            p = process;
        }
        if (p == null || !p.isAlive()) return true;
        if (!graceful) {
            p.destroyForcibly().waitFor();
            return false;
        }
        p.destroy(); // SIGTERM on Linux
        if (p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) return true;
        p.destroyForcibly().waitFor();
        return false;
    }

    /** Waits until the probe says ready; the time it took, or null if the process died or the timeout passed. */
    public Duration awaitReady(Duration timeout) throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!alive()) return null;
            if (probe.ready()) return Duration.ofNanos(System.nanoTime() - start);
            Thread.sleep(100);
        }
        return null;
    }

    public Path log() {
        return log;
    }

    @Override
    public void close() throws InterruptedException {
        kill(true, Duration.ofSeconds(20));
    }
}
