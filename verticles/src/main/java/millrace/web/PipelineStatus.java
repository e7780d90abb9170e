package millrace.web;

import java.util.List;
import java.util.Map;
import millrace.protocol.Checkpoint;
import millrace.protocol.PolicyVersion;

/**
 * What {@code /api/status} reports, derived from the topics themselves so that it is true wherever the roles run.
 *
 * @param documentsIn records on {@code millrace.docs}
 * @param documentsKept documents on {@code millrace.docs.clean}
 * @param rejected rejections by reason code
 * @param shards shards by split
 * @param tokens tokens in shards by split
 * @param checkpoint the newest checkpoint per model
 * @param lossHistory per model, {@code [step, train loss]} of the checkpoints seen (at most 256, evenly thinned)
 * @param ratings ratings by kind, and of the last hour minute by minute
 * @param policy the newest policy version per model
 * @param policyHistory per model, {@code [time in ms, version]} of the versions published (at most 256, thinned)
 * @param updatedAtMillis when this was computed
 */
public record PipelineStatus(long documentsIn, long documentsKept, Map<String, Long> rejected,
        Map<String, Long> shards, Map<String, Long> tokens, Map<String, Checkpoint> checkpoint,
        Map<String, List<double[]>> lossHistory, RatingLedger.Snapshot ratings, Map<String, PolicyVersion> policy,
        Map<String, List<double[]>> policyHistory, long updatedAtMillis) {}
