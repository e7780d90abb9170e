package millrace.faults;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import millrace.feedback.FeedbackAudit;
import millrace.kafka.KafkaSettings;
import millrace.kafka.TopicReader;
import millrace.protocol.Document;
import millrace.protocol.JsonSerde;
import millrace.protocol.Rejection;
import millrace.protocol.ShardDoc;
import millrace.protocol.Split;
import millrace.protocol.TokenShard;
import millrace.protocol.TokenShardCodec;
import millrace.protocol.Topics;
import millrace.train.TrainAudit;

/**
 * What the topics and the trainer's audit say happened to a corpus, stage by stage, checked against what was written:
 * every valid line reached {@code millrace.docs} and every malformed one was rejected; every ingested document has
 * exactly one verdict (kept or rejected by dedup; a document ingested again after an ingest crash is the same document,
 * known by its id); every kept document's tokens are in exactly one run of consecutive shards of one packer; every
 * training row is in the final weights once. A document the audit was not told about (the filler that pushes the last
 * partial shards out) is checked for duplicates only. Every rating the web role acknowledged is on
 * {@code millrace.ratings} once and consumed once by the feedback role's newest policy lineage.
 */
public final class StreamAudit {
    /** One stage's figures. */
    public record Stage(long audited, long lost, long duplicated, List<String> examples) {
        public Stage {
            examples = List.copyOf(examples.subList(0, Math.min(5, examples.size())));
        }
    }

    /** Everything: per stage, in pipeline order. */
    public record Result(Map<String, Stage> stages, long trainRowsPending) {
        public long lost() {
            return stages.values().stream().mapToLong(Stage::lost).sum();
        }

        public long duplicated() {
            return stages.values().stream().mapToLong(Stage::duplicated).sum();
        }
    }

    private final Map<String, List<String>> docIdsByLine = new HashMap<>(); // our id -> document ids seen
    private final Set<String> rejectedLines = new HashSet<>();
    private final Map<String, Integer> verdicts = new HashMap<>();
    private final Set<String> kept = new HashSet<>();
    private final Map<String, String> ourIdOf = new HashMap<>();
    private final List<TokenShard> shards = new ArrayList<>();
    /** Where each training shard is on the topic, in topic order per partition. */
    private final Map<Integer, List<TokenShard>> trainShardsByPartition = new HashMap<>();
    private final Map<String, Integer> shardIds = new HashMap<>();
    private final Map<String, Integer> ratingIds = new HashMap<>();

    private StreamAudit() {}

    /** Reads the topics now. */
    public static StreamAudit read(KafkaSettings kafka) {
        StreamAudit a = new StreamAudit();
        JsonSerde<Document> documents = JsonSerde.documents();
        JsonSerde<Rejection> rejections = JsonSerde.rejections();
        TopicReader.readAll(kafka, Topics.DOCS, r -> {
            Document d = documents.fromBytes(r.value());
            String ours = d.metadata().get("id");
            if (ours == null) return;
            a.ourIdOf.put(d.id(), ours);
            List<String> ids = a.docIdsByLine.computeIfAbsent(ours, k -> new ArrayList<>());
            if (!ids.contains(d.id())) ids.add(d.id());
        });
        TopicReader.readAll(kafka, Topics.DOCS_CLEAN, r -> {
            Document d = documents.fromBytes(r.value());
            a.verdicts.merge(d.id(), 1, Integer::sum);
            a.kept.add(d.id());
        });
        TopicReader.readAll(kafka, Topics.DOCS_REJECTED, r -> {
            Rejection x = rejections.fromBytes(r.value());
            if (x.stage().equals("ingest")) a.rejectedLines.add(x.source());
            else if (x.stage().equals("dedup")) a.verdicts.merge(x.docId(), 1, Integer::sum);
        });
        TopicReader.readAll(kafka, Topics.RATINGS, r -> {
            if (r.key() != null) a.ratingIds.merge(r.key(), 1, Integer::sum);
        });
        TopicReader.readAll(kafka, Topics.SHARDS, r -> {
            TokenShard s = TokenShardCodec.decode(r.value());
            a.shards.add(s);
            if (s.split() == Split.TRAIN) a.trainShardsByPartition.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(s);
            a.shardIds.merge(s.id(), 1, Integer::sum);
        });
        return a;
    }

    /**
     * @param validIds ids of the valid lines written (in {@code id} fields)
     * @param malformedLines malformed lines written into files whose names start with {@code corpusPrefix}
     * @param trainAudit the trainer's audit directory
     * @param batchSize rows of a batch: fewer than that may wait, untrained, for rows that never come
     * @param ratings ids of the ratings the web role acknowledged (202)
     * @param feedbackAudit the feedback role's audit directory
     */
    public Result audit(List<String> validIds, int malformedLines, String corpusPrefix, Path trainAudit, int batchSize,
            Set<String> ratings, Path feedbackAudit) throws IOException {
        Map<String, Stage> stages = new LinkedHashMap<>();

        // ingest: every valid line became a document (one id), every malformed line a rejection
        List<String> missing = new ArrayList<>();
        long twoIds = 0;
        Set<String> audited = new HashSet<>();
        for (String id : validIds) {
            List<String> docIds = docIdsByLine.get(id);
            if (docIds == null) missing.add(id);
            else {
                if (docIds.size() > 1) twoIds++;
                audited.addAll(docIds);
            }
        }
        long lostLines = missing.size();
        long malformedSeen = rejectedLines.stream().filter(s -> fileName(s).startsWith(corpusPrefix)).count();
        long malformedLost = Math.max(0, malformedLines - malformedSeen);
        if (malformedLost > 0) missing.add(malformedLost + " malformed lines without a rejection");
        stages.put("ingest", new Stage(validIds.size() + malformedLines, lostLines + malformedLost, twoIds, missing));

        // dedup: one verdict per ingested document
        List<String> dedupProblems = new ArrayList<>();
        long lost = 0, duplicated = 0;
        for (String docId : audited) {
            int n = verdicts.getOrDefault(docId, 0);
            if (n == 0) {
                lost++;
                dedupProblems.add("no verdict: " + ourIdOf.get(docId));
            } else if (n > 1) {
                duplicated++;
                dedupProblems.add(n + " verdicts: " + ourIdOf.get(docId));
            }
        }
        stages.put("dedup", new Stage(audited.size(), lost, duplicated, dedupProblems));

        // tokenize: each kept document in one run of consecutive shards of one packer; no shard twice
        Map<String, List<TokenShard>> byPacker = new HashMap<>();
        for (TokenShard s : shards) byPacker.computeIfAbsent(packer(s.id()), k -> new ArrayList<>()).add(s);
        Map<String, List<int[]>> runs = new HashMap<>(); // document -> {packer hash, first index, last index}
        for (Map.Entry<String, List<TokenShard>> e : byPacker.entrySet()) {
            Map<String, TokenShard> once = new LinkedHashMap<>(); // a shard twice is counted below
            for (TokenShard s : e.getValue()) once.putIfAbsent(s.id(), s);
            List<TokenShard> ordered = new ArrayList<>(once.values());
            ordered.sort(Comparator.comparingLong((TokenShard s) -> position(s.id())[0]).thenComparingLong(s -> position(s.id())[1]));
            for (int i = 0; i < ordered.size(); i++) {
                for (ShardDoc d : ordered.get(i).docs()) {
                    List<int[]> r = runs.computeIfAbsent(d.id(), k -> new ArrayList<>());
                    int[] last = r.isEmpty() ? null : r.get(r.size() - 1);
                    if (last != null && last[0] == e.getKey().hashCode() && last[2] == i - 1) last[2] = i;
                    else if (last == null || last[0] != e.getKey().hashCode() || last[2] != i) r.add(new int[] {e.getKey().hashCode(), i, i});
                }
            }
        }
        List<String> tokenizeProblems = new ArrayList<>();
        lost = 0;
        duplicated = shardIds.values().stream().filter(n -> n > 1).count();
        if (duplicated > 0) tokenizeProblems.add(duplicated + " shard ids twice on " + Topics.SHARDS);
        long keptAudited = 0;
        for (String docId : audited) {
            if (!kept.contains(docId)) continue;
            keptAudited++;
            List<int[]> r = runs.get(docId);
            if (r == null) {
                lost++;
                tokenizeProblems.add("kept, in no shard: " + ourIdOf.get(docId));
            } else if (r.size() > 1) {
                duplicated++;
                tokenizeProblems.add("in " + r.size() + " runs of shards: " + ourIdOf.get(docId));
            }
        }
        stages.put("tokenize", new Stage(keptAudited, lost, duplicated, tokenizeProblems));

        // train: every row of every training shard in the final weights once
        Map<String, Integer> trained = new HashMap<>();
        for (String row : TrainAudit.read(trainAudit)) trained.merge(row.replace("!dropped", ""), 1, Integer::sum);
        List<String> trainProblems = new ArrayList<>();
        duplicated = 0;
        for (Map.Entry<String, Integer> e : trained.entrySet()) {
            if (e.getValue() > 1) {
                duplicated++;
                trainProblems.add(e.getValue() + " times: " + e.getKey());
            }
        }
        // rows not in the weights are lost unless they are the tail of their partition, still waiting for a batch
        long rows = 0, untrained = 0, lostRows = 0;
        for (List<TokenShard> partition : trainShardsByPartition.values()) {
            List<String> order = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            for (TokenShard s : partition) {
                if (!seen.add(s.id())) continue;
                for (int r = 0; r < s.rows(); r++) order.add(s.id() + "#" + r);
            }
            int lastTrained = -1;
            for (int i = 0; i < order.size(); i++) if (trained.containsKey(order.get(i))) lastTrained = i;
            for (int i = 0; i < order.size(); i++) {
                if (trained.containsKey(order.get(i))) continue;
                untrained++;
                if (i < lastTrained) {
                    lostRows++;
                    if (trainProblems.size() < 5) trainProblems.add("not in the weights, rows after it are: " + order.get(i));
                }
            }
            rows += order.size();
        }
        long tail = untrained - lostRows;
        long trainLost = lostRows + (tail >= batchSize ? tail : 0);
        if (tail >= batchSize) trainProblems.add(tail + " rows at the end of the topic not in the final weights");
        stages.put("train", new Stage(rows, trainLost, duplicated, trainProblems));

        // ratings: every acknowledged rating on the topic once (and no rating twice); consumed by the newest policy
        // lineage once (one entry that is not a duplicate's)
        List<String> ratingProblems = new ArrayList<>();
        long ratingsLost = 0;
        for (String id : ratings) {
            if (!ratingIds.containsKey(id)) {
                ratingsLost++;
                ratingProblems.add("acknowledged, not on " + Topics.RATINGS + ": " + id);
            }
        }
        long ratingsTwice = ratingIds.values().stream().filter(n -> n > 1).count();
        if (ratingsTwice > 0) ratingProblems.add(ratingsTwice + " ratings twice on " + Topics.RATINGS);
        stages.put("ratings", new Stage(ratings.size(), ratingsLost, ratingsTwice, ratingProblems));

        Map<String, Integer> consumed = new HashMap<>();
        if (java.nio.file.Files.isDirectory(feedbackAudit)) {
            for (FeedbackAudit.Entry e : FeedbackAudit.read(feedbackAudit)) {
                if (e.outcome() != FeedbackAudit.Outcome.DUPLICATE) consumed.merge(e.ratingId(), 1, Integer::sum);
            }
        }
        List<String> feedbackProblems = new ArrayList<>();
        long feedbackLost = 0, feedbackTwice = 0;
        for (String id : ratings) {
            int n = consumed.getOrDefault(id, 0);
            if (n == 0) {
                feedbackLost++;
                feedbackProblems.add("acknowledged, not consumed by the newest policy version: " + id);
            } else if (n > 1) {
                feedbackTwice++;
                feedbackProblems.add(n + " times in the policy's lineage: " + id);
            }
        }
        stages.put("feedback", new Stage(ratings.size(), feedbackLost, feedbackTwice, feedbackProblems));
        return new Result(stages, tail);
    }

    private static String fileName(String source) {
        int slash = Math.max(source.lastIndexOf('/'), source.lastIndexOf('\\'));
        return source.substring(slash + 1);
    }

    /** {@code p3-train-1234+56}: the packer is {@code p3-train}. */
    private static String packer(String shardId) {
        int dash = shardId.lastIndexOf('-');
        return shardId.substring(0, dash);
    }

    private static long[] position(String shardId) {
        String pos = shardId.substring(shardId.lastIndexOf('-') + 1);
        int plus = pos.indexOf('+');
        return new long[] {Long.parseLong(pos.substring(0, plus)), Long.parseLong(pos.substring(plus + 1))};
    }
}
