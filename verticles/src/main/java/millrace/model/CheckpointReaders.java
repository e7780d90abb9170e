package millrace.model;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * Who is reading which checkpoint, so that pruning never deletes one under a reader (the web role loading the newest
 * weights while the trainer writes the next ones). A reader holds a shared lock on the checkpoint's
 * {@code .read.lock}, which other processes see; the pruner takes that file's exclusive lock, without waiting, before
 * it deletes, and leaves a checkpoint that someone holds for the next prune. The lock file is one nobody else opens:
 * POSIX drops a process's locks on a file when any of its handles on that file closes, so locking
 * {@code checkpoint.json}, which readers open and close, would not hold. Java allows one lock per file per process, so
 * readers within this process share it through a count. A checkpoint written before lock files existed has none and
 * is read unprotected.
 */
public final class CheckpointReaders {
    private record Held(FileChannel channel, FileLock lock, int readers) {}

    private static final Map<Path, Held> HELD = new HashMap<>();

    private CheckpointReaders() {}

    /** A read of a checkpoint, for as long as it is open. */
    public interface Reading extends AutoCloseable {
        @Override
        void close();
    }

    /** Holds {@code checkpoint} against pruning until closed; a clear error if it is gone already. */
    public static Reading open(Path checkpoint) throws IOException {
        Path key = checkpoint.toAbsolutePath().normalize();
        synchronized (HELD) {
            Held held = HELD.get(key);
            if (held == null) {
                if (!Files.isRegularFile(key.resolve(CheckpointFormat.META))) throw gone(checkpoint);
                FileChannel channel;
                try {
                    channel = FileChannel.open(key.resolve(CheckpointFormat.READ_LOCK), StandardOpenOption.READ);
                } catch (NoSuchFileException e) {
                    return () -> { }; // written before lock files: nothing to hold
                }
                try {
                    held = new Held(channel, channel.lock(0, Long.MAX_VALUE, true), 0);
                    // a pruner that held the lock before us deleted the checkpoint meanwhile
                    if (!Files.isRegularFile(key.resolve(CheckpointFormat.META))) throw gone(checkpoint);
                } catch (IOException | RuntimeException e) {
                    channel.close();
                    throw e;
                }
            }
            HELD.put(key, new Held(held.channel(), held.lock(), held.readers() + 1));
        }
        return () -> release(key);
    }

    private static NoSuchFileException gone(Path checkpoint) {
        return new NoSuchFileException(checkpoint.toString(), null, "no such checkpoint (pruned, or never written)");
    }

    private static void release(Path key) {
        synchronized (HELD) {
            Held held = HELD.get(key);
            if (held == null) return;
            if (held.readers() > 1) {
                HELD.put(key, new Held(held.channel(), held.lock(), held.readers() - 1));
                return;
            }
            HELD.remove(key);
            try {
                held.channel().close(); // releases the lock
            } catch (IOException ignored) {
                // the lock goes with the channel
            }
        }
    }

    /**
     * Deletes {@code checkpoint} unless a reader holds it, here or in another process; true when deleted. The exclusive
     * lock is held while deleting, so a reader that comes meanwhile waits and then finds it gone.
     */
    public static boolean deleteUnlessRead(Path checkpoint) throws IOException {
        Path key = checkpoint.toAbsolutePath().normalize();
        synchronized (HELD) {
            if (HELD.containsKey(key)) return false;
            if (!Files.exists(key.resolve(CheckpointFormat.READ_LOCK))) {
                deleteTree(key); // written before lock files: no reader can say it is reading
                return true;
            }
            try (FileChannel channel = FileChannel.open(key.resolve(CheckpointFormat.READ_LOCK), StandardOpenOption.WRITE)) {
                FileLock lock;
                try {
                    lock = channel.tryLock();
                } catch (OverlappingFileLockException e) {
                    return false;
                }
                if (lock == null) return false;
                deleteTree(key);
                return true;
            } catch (NoSuchFileException e) {
                return false;
            }
        }
    }

    private static void deleteTree(Path p) throws IOException {
        try (java.util.stream.Stream<Path> s = java.nio.file.Files.walk(p)) {
            for (Path f : s.sorted(java.util.Comparator.reverseOrder()).toList()) java.nio.file.Files.deleteIfExists(f);
        }
    }
}
