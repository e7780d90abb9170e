package millrace.k8s;

import java.util.List;
import java.util.Map;

/**
 * KEDA's {@code ScaledObject} (keda.sh/v1alpha1), transcribed field by field from KEDA's reference documentation:
 * KEDA publishes no Java model, so the manifests are read strictly into these records instead (an unknown or
 * misspelt field fails). Only the fields of the spec that KEDA documents are here.
 */
record KedaScaledObject(String apiVersion, String kind, Metadata metadata, Spec spec) {
    record Metadata(String name, String namespace, Map<String, String> labels, Map<String, String> annotations) {}

    record Spec(ScaleTargetRef scaleTargetRef, Integer pollingInterval, Integer cooldownPeriod,
            Integer initialCooldownPeriod, Integer idleReplicaCount, Integer minReplicaCount, Integer maxReplicaCount,
            Map<String, Object> fallback, Map<String, Object> advanced, List<Trigger> triggers) {}

    record ScaleTargetRef(String apiVersion, String kind, String name, String envSourceContainerName) {}

    record Trigger(String type, String name, Boolean useCachedMetrics, String metricType, Map<String, String> metadata,
            Map<String, String> authenticationRef) {}
}
