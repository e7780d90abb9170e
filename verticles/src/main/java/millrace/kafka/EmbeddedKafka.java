package millrace.kafka;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import millrace.ProcessLock;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A single-node Apache Kafka broker in KRaft mode (broker and controller in one), running inside this JVM with the
 * real broker classes. Its log lives under {@code dataDir}; storage is formatted on the first start only, so a second
 * start on the same directory keeps every record.
 */
public final class EmbeddedKafka implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);

    private final Path dataDir;
    private final int port;
    private KafkaRaftServer server;
    private ProcessLock lock;

    /**
     * @param dataDir directory of the broker's log (created if missing)
     * @param port client port, or 0 for a free one
     */
    public EmbeddedKafka(Path dataDir, int port) {
        this.dataDir = dataDir.toAbsolutePath();
        this.port = port == 0 ? freePort() : port;
    }

    public synchronized EmbeddedKafka start() {
        if (server != null) return this;
        try {
            Files.createDirectories(dataDir);
            lockDataDir();
            Properties props = brokerProperties(freePort());
            Path config = dataDir.resolve("server.properties");
            try (Writer w = Files.newBufferedWriter(config, StandardCharsets.UTF_8)) {
                props.store(w, "written by millrace on every start; the cluster id lives in meta.properties");
            }
            format(config);
            server = new KafkaRaftServer(KafkaConfig.fromProps(props, false), Time.SYSTEM);
            server.startup();
            awaitReady(Duration.ofSeconds(60));
            LOG.info("embedded Kafka broker ready at {} (data in {})", bootstrapServers(), dataDir);
            return this;
        } catch (IOException e) {
            releaseLock();
            throw new IllegalStateException("cannot start the embedded Kafka broker in " + dataDir, e);
        } catch (RuntimeException e) {
            releaseLock();
            throw e;
        }
    }

    /**
     * A second broker on the same log directory damages the first one's metadata log before it fails on the port, so
     * the directory is locked for as long as this broker runs.
     */
    private void lockDataDir() throws IOException {
        lock = ProcessLock.tryLock(dataDir.resolve(".millrace.lock")).orElseThrow(() -> new IllegalStateException(dataDir
                + " is in use by another running broker (use another --data-dir, or stop the other Millrace)"));
    }

    private void releaseLock() {
        if (lock != null) lock.close();
        lock = null;
    }

    /**
     * Where the broker of {@code dataDir} listens, if one is running on it now (its lock is held): a command such as
     * {@code raters add} then talks to the running {@code up} instead of starting a second broker on its log.
     */
    public static java.util.Optional<String> runningAt(Path dataDir) {
        Path dir = dataDir.toAbsolutePath();
        Path lockFile = dir.resolve(".millrace.lock");
        if (!Files.exists(lockFile)) return java.util.Optional.empty();
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.WRITE)) {
            FileLock probe;
            try {
                probe = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                probe = null; // this JVM runs it
            }
            if (probe != null) {
                probe.release();
                return java.util.Optional.empty();
            }
            Properties props = new Properties();
            try (var in = Files.newBufferedReader(dir.resolve("server.properties"), StandardCharsets.UTF_8)) {
                props.load(in);
            }
            String advertised = props.getProperty("advertised.listeners", "");
            return java.util.Optional.of(advertised.substring(advertised.indexOf("://") + 3));
        } catch (IOException e) {
            throw new IllegalStateException("cannot tell whether a broker runs on " + dir + ": " + e.getMessage(), e);
        }
    }

    public String bootstrapServers() {
        return "127.0.0.1:" + port;
    }

    private Properties brokerProperties(int controllerPort) {
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("log.dirs", dataDir.toString());
        // one node: every internal topic has one replica
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "4");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "4");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("auto.create.topics.enable", "false");
        // shard records can be a few MB for long sequences
        p.put("message.max.bytes", String.valueOf(16 * 1024 * 1024));
        return p;
    }

    private void format(Path config) {
        if (Files.exists(dataDir.resolve("meta.properties"))) return;
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        int rc = StorageTool.execute(new String[] {
                "format", "--config", config.toString(), "--cluster-id", Uuid.randomUuid().toString(),
                "--ignore-formatted"}, new PrintStream(buffer, true, StandardCharsets.UTF_8));
        if (rc != 0) throw new IllegalStateException("formatting Kafka storage failed: " + buffer);
        LOG.info("formatted Kafka storage in {}", dataDir);
    }

    private void awaitReady(Duration timeout) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        long deadline = System.nanoTime() + timeout.toNanos();
        try (Admin admin = Admin.create(p)) {
            while (true) {
                try {
                    if (!admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).isEmpty()) return;
                } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                    if (System.nanoTime() > deadline) throw new IllegalStateException("Kafka broker not ready", e);
                }
                Thread.sleep(100);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the broker", e);
        }
    }

    @Override
    public synchronized void close() {
        if (server == null) return;
        server.shutdown();
        server.awaitShutdown();
        server = null;
        releaseLock();
        LOG.info("embedded Kafka broker stopped");
    }

    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException("no free port", e);
        }
    }
}
