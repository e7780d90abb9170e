package millrace.k8s;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import io.strimzi.api.kafka.model.kafka.Kafka;
import io.strimzi.api.kafka.model.nodepool.KafkaNodePool;
import io.strimzi.api.kafka.model.topic.KafkaTopic;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import millrace.ExternalTools;
import millrace.cli.Main;
import millrace.protocol.Topics;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/**
 * Renders each overlay with {@code kubectl kustomize}, reads every resource strictly into its published model
 * (fabric8 for Kubernetes and the Prometheus Operator, Strimzi's own API classes, KEDA's documented spec), and checks
 * that the manifests agree with the code: container arguments parse with the real CLI, ports, topics, consumer groups.
 */
class KubernetesManifestsIT {
    private static final ObjectMapper STRICT = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();
    private static final Map<String, Class<?>> MODELS = Map.ofEntries(
            Map.entry("v1/Namespace", Namespace.class),
            Map.entry("v1/ConfigMap", ConfigMap.class),
            Map.entry("v1/Service", Service.class),
            Map.entry("v1/PersistentVolumeClaim", PersistentVolumeClaim.class),
            Map.entry("apps/v1/Deployment", Deployment.class),
            Map.entry("apps/v1/StatefulSet", StatefulSet.class),
            Map.entry("networking.k8s.io/v1/NetworkPolicy", NetworkPolicy.class),
            Map.entry("monitoring.coreos.com/v1/ServiceMonitor", ServiceMonitor.class),
            Map.entry("monitoring.coreos.com/v1/PrometheusRule", PrometheusRule.class),
            Map.entry("kafka.strimzi.io/v1beta2/Kafka", Kafka.class),
            Map.entry("kafka.strimzi.io/v1beta2/KafkaNodePool", KafkaNodePool.class),
            Map.entry("kafka.strimzi.io/v1beta2/KafkaTopic", KafkaTopic.class),
            Map.entry("keda.sh/v1alpha1/ScaledObject", KedaScaledObject.class));

    private static List<JsonNode> render(String overlay) throws Exception {
        Path kubectl = ExternalTools.require("kubectl", "apt-get install kubernetes-client");
        Process p = new ProcessBuilder(kubectl.toString(), "kustomize",
                ExternalTools.repo().resolve("k8s/overlays/" + overlay).toString()).start();
        String yaml = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), err);
        List<JsonNode> docs = new ArrayList<>();
        new YAMLMapper().readerFor(JsonNode.class).<JsonNode>readValues(yaml).forEachRemaining(d -> {
            if (d != null && !d.isEmpty()) docs.add(d);
        });
        return docs;
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu", "diloco"})
    void everyResourceValidatesAgainstItsModelAndAgreesWithTheCode(String overlay) throws Exception {
        List<JsonNode> docs = render(overlay);
        Set<String> kinds = new TreeSet<>();
        for (JsonNode doc : docs) {
            String key = doc.get("apiVersion").asText() + "/" + doc.get("kind").asText();
            kinds.add(doc.get("kind").asText());
            Class<?> model = MODELS.get(key);
            assertNotNull(model, "no model to validate " + key + " against");
            Object parsed = STRICT.treeToValue(doc, model);
            List<String> unknown = new ArrayList<>();
            unknownFields(parsed, key + " " + doc.get("metadata").get("name").asText(), unknown, new IdentityHashMap<>());
            assertEquals(List.of(), unknown, "fields the model does not know");
            assertEquals("millrace", doc.get("metadata").path("namespace").asText("millrace"));
        }
        assertTrue(kinds.containsAll(List.of("Kafka", "KafkaNodePool", "KafkaTopic", "Deployment", "StatefulSet",
                "ScaledObject", "ServiceMonitor", "PrometheusRule", "NetworkPolicy", "ConfigMap")), kinds.toString());

        // topics: exactly the contract's, compacted where the contract says
        Map<String, String> topics = docs.stream().filter(d -> d.get("kind").asText().equals("KafkaTopic"))
                .collect(Collectors.toMap(d -> d.get("spec").get("topicName").asText(),
                        d -> d.get("spec").get("config").path("cleanup.policy").asText("delete")));
        assertEquals(new TreeSet<>(Topics.ALL), new TreeSet<>(topics.keySet()));
        for (String t : Topics.ALL) assertEquals(Topics.COMPACTED.contains(t), topics.get(t).equals("compact"), t);
        docs.stream().filter(d -> d.get("kind").asText().equals("KafkaTopic"))
                .filter(d -> Topics.SINGLE_PARTITION.contains(d.get("spec").get("topicName").asText()))
                .forEach(d -> assertEquals(1, d.get("spec").get("partitions").asInt(), d.toString()));
        docs.stream().filter(d -> d.get("kind").asText().equals("KafkaTopic"))
                .filter(d -> Topics.RETENTION_MS.containsKey(d.get("spec").get("topicName").asText()))
                .forEach(d -> assertEquals(Topics.RETENTION_MS.get(d.get("spec").get("topicName").asText()).longValue(),
                        d.get("spec").get("config").get("retention.ms").asLong(), d.toString()));

        // workloads: one per role, args the real CLI accepts, probes, resources, ports
        Map<String, JsonNode> configMap = docs.stream().filter(d -> d.get("kind").asText().equals("ConfigMap")
                && d.get("metadata").get("name").asText().equals("millrace")).collect(Collectors.toMap(d -> "millrace", d -> d.get("data")));
        Set<String> roles = new HashSet<>();
        for (JsonNode doc : docs) {
            String kind = doc.get("kind").asText();
            if (!kind.equals("Deployment") && !kind.equals("StatefulSet")) continue;
            PodTemplateSpec template = kind.equals("Deployment")
                    ? STRICT.treeToValue(doc, Deployment.class).getSpec().getTemplate()
                    : STRICT.treeToValue(doc, StatefulSet.class).getSpec().getTemplate();
            Container c = template.getSpec().getContainers().get(0);
            List<String> args = new ArrayList<>(c.getArgs());
            assertEquals("run", args.get(0));
            String role = args.get(args.indexOf("--roles") + 1);
            roles.add(role);
            assertEquals(kind.equals("StatefulSet"), role.equals("train") || role.equals("feedback"),
                    "the trainer and the feedback role (one writer each, state on a volume), and only they, are StatefulSets");
            // $(VAR) comes from the pod's env: every such variable is defined
            Set<String> env = c.getEnv().stream().map(e -> e.getName()).collect(Collectors.toSet());
            for (String a : args) {
                if (a.startsWith("$(")) assertTrue(env.contains(a.substring(2, a.length() - 1)), role + ": " + a);
            }
            c.getEnv().stream().filter(e -> e.getValueFrom() != null && e.getValueFrom().getConfigMapKeyRef() != null)
                    .forEach(e -> assertTrue(configMap.get("millrace").has(e.getValueFrom().getConfigMapKeyRef().getKey()),
                            role + " reads a missing ConfigMap key " + e.getValueFrom().getConfigMapKeyRef().getKey()));
            List<String> resolved = args.stream().map(a -> a.startsWith("$(") ? "value-of-" + a.substring(2, a.length() - 1) : a).toList();
            CommandLine.ParseResult parsed = Main.commandLine().parseArgs(resolved.toArray(String[]::new));
            CommandLine.ParseResult run = parsed.subcommand();
            assertEquals("run", run.commandSpec().name());
            int opsPort = run.matchedOptionValue("--ops-port", 9404);
            assertEquals(opsPort, port(c, "ops"), role + ": ops port");
            assertEquals("/health", c.getLivenessProbe().getHttpGet().getPath());
            assertEquals("/ready", c.getReadinessProbe().getHttpGet().getPath());
            assertEquals("ops", c.getLivenessProbe().getHttpGet().getPort().getStrVal());
            assertFalse(c.getResources().getRequests().isEmpty(), role + " has no requests");
            assertFalse(c.getResources().getLimits().isEmpty(), role + " has no limits");
            if (role.equals("web")) assertEquals((int) run.matchedOptionValue("--http-port", 8080), port(c, "http"));
            if (role.equals("train")) {
                // one trainer, or (the diloco overlay) replicas of one run: more than one only with --diloco
                int replicas = STRICT.treeToValue(doc, StatefulSet.class).getSpec().getReplicas();
                assertEquals(overlay.equals("diloco"), run.hasMatchedOption("--diloco"), "--diloco in " + overlay);
                assertEquals(overlay.equals("diloco"), replicas > 1, "trainer replicas in " + overlay + ": " + replicas);
            }
            Quantity gpu = c.getResources().getLimits().get("nvidia.com/gpu");
            assertEquals(overlay.equals("gpu") && role.equals("train"), gpu != null, role + " GPU limit");
        }
        assertEquals(Set.of("ingest", "dedup", "tokenize", "train", "feedback", "web"), roles);

        // KEDA scales dedup and tokenize on the consumer groups and topics the stages really use
        Map<String, JsonNode> scaled = docs.stream().filter(d -> d.get("kind").asText().equals("ScaledObject"))
                .collect(Collectors.toMap(d -> d.get("spec").get("scaleTargetRef").get("name").asText(), d -> d));
        assertEquals(Set.of("millrace-dedup", "millrace-tokenize"), scaled.keySet());
        assertKafkaTrigger(scaled.get("millrace-dedup"), "millrace-dedup", Topics.DOCS);
        assertKafkaTrigger(scaled.get("millrace-tokenize"), "millrace-tokenize", Topics.DOCS_CLEAN);

        // only the web role takes traffic from outside: the one policy with a peer-less rule selects web alone
        for (JsonNode doc : docs) {
            if (!doc.get("kind").asText().equals("NetworkPolicy")) continue;
            NetworkPolicy policy = STRICT.treeToValue(doc, NetworkPolicy.class);
            boolean open = policy.getSpec().getIngress().stream().anyMatch(r -> r.getFrom() == null || r.getFrom().isEmpty());
            if (open) {
                assertEquals("web", policy.getSpec().getPodSelector().getMatchLabels().get("app.kubernetes.io/component"));
            }
        }

        // the dashboards ConfigMap carries every dashboard file, for the Grafana sidecar
        JsonNode dashboards = docs.stream().filter(d -> d.get("kind").asText().equals("ConfigMap")
                && d.get("metadata").get("name").asText().equals("millrace-dashboards")).findFirst().orElseThrow();
        assertEquals("1", dashboards.get("metadata").get("labels").get("grafana_dashboard").asText());
        try (Stream<Path> files = Files.list(ExternalTools.repo().resolve("k8s/monitoring/grafana/dashboards"))) {
            Set<String> expected = files.map(f -> f.getFileName().toString()).collect(Collectors.toSet());
            Set<String> shipped = new HashSet<>();
            dashboards.get("data").fieldNames().forEachRemaining(shipped::add);
            assertEquals(expected, shipped);
        }

        // the PrometheusRule holds the same rules as alerts.yaml (which promtool checks)
        JsonNode rule = docs.stream().filter(d -> d.get("kind").asText().equals("PrometheusRule")).findFirst().orElseThrow();
        JsonNode alerts = new YAMLMapper().readTree(ExternalTools.repo().resolve("k8s/monitoring/prometheus/alerts.yaml").toFile());
        assertEquals(alerts.get("groups"), rule.get("spec").get("groups"));
    }

    private static void assertKafkaTrigger(JsonNode scaledObject, String group, String topic) {
        JsonNode trigger = scaledObject.get("spec").get("triggers").get(0);
        assertEquals("kafka", trigger.get("type").asText());
        assertEquals(group, trigger.get("metadata").get("consumerGroup").asText());
        assertEquals(topic, trigger.get("metadata").get("topic").asText());
        // the Kafka scaler's metadata keys, as KEDA documents them (the CRD leaves metadata free-form)
        Set<String> known = Set.of("bootstrapServers", "consumerGroup", "topic", "lagThreshold",
                "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers", "scaleToZeroOnInvalidOffset",
                "excludePersistentLag", "version", "partitionLimitation", "limitToPartitionsWithLag", "sasl", "tls");
        trigger.get("metadata").fieldNames().forEachRemaining(k -> assertTrue(known.contains(k), "unknown Kafka scaler key " + k));
        assertTrue(scaledObject.get("spec").get("maxReplicaCount").asInt() <= 12, "more replicas than partitions");
    }

    private static int port(Container c, String name) {
        return c.getPorts().stream().filter(p -> name.equals(p.getName())).findFirst()
                .orElseThrow(() -> new AssertionError("no port " + name)).getContainerPort();
    }

    /** Walks a parsed model and reports every field it kept as "additional" (a field its schema does not have). */
    private static void unknownFields(Object o, String path, List<String> out, Map<Object, Boolean> seen) throws Exception {
        if (o == null || seen.put(o, true) != null) return;
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) unknownFields(e, path + "[" + i++ + "]", out, seen);
            return;
        }
        if (o instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) unknownFields(e.getValue(), path + "." + e.getKey(), out, seen);
            return;
        }
        String pkg = o.getClass().getPackageName();
        if (!pkg.startsWith("io.fabric8") && !pkg.startsWith("io.strimzi")) return;
        for (Method m : o.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || !m.getName().startsWith("get") || m.getDeclaringClass() == Object.class) continue;
            if (m.getName().equals("getAdditionalProperties")) {
                Object extra = m.invoke(o);
                if (extra instanceof Map<?, ?> map && !map.isEmpty()) out.add(path + ": " + map.keySet());
                continue;
            }
            Object value;
            try {
                value = m.invoke(o);
            } catch (ReflectiveOperationException | RuntimeException e) {
                continue;
            }
            unknownFields(value, path + "." + m.getName().substring(3), out, seen);
        }
    }
}
