package millrace.train;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * Who is reading which checkpoint, so that pruning never deletes one under a reader (the web role loading the newest
 * weights while the trainer writes the next ones). A reader holds a shared lock on the checkpoint's
 * {@code checkpoint.json}, which other processes see; the pruner takes that file's exclusive lock, without waiting,
 * before it deletes, and leaves a checkpoint that someone holds for the next prune. Java allows one lock per file per
 * process, so readers within this process share it through a count.
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
                FileChannel channel;
                try {
                    channel = FileChannel.open(key.resolve(CheckpointStore.META), StandardOpenOption.READ);
                } catch (NoSuchFileException e) {
                    throw new NoSuchFileException(checkpoint.toString(), null, "no such checkpoint (pruned, or never written)");
                }
                try {
                    held = new Held(channel, channel.lock(0, Long.MAX_VALUE, true), 0);
                } catch (IOException | RuntimeException e) {
                    channel.close();
                    throw e;
                }
            }
            HELD.put(key, new Held(held.channel(), held.lock(), held.readers() + 1));
        }
        return () -> release(key);
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
    static boolean deleteUnlessRead(Path checkpoint) throws IOException {
        Path key = checkpoint.toAbsolutePath().normalize();
        synchronized (HELD) {
            if (HELD.containsKey(key)) return false;
            try (FileChannel channel = FileChannel.open(key.resolve(CheckpointStore.META), StandardOpenOption.WRITE)) {
                FileLock lock;
                try {
                    lock = channel.tryLock();
                } catch (OverlappingFileLockException e) {
                    return false;
                }
                if (lock == null) return false;
                CheckpointStore.deleteTree(key);
                return true;
            } catch (NoSuchFileException e) {
                return false;
            }
        }
    }
}
