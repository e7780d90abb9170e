package millrace.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import millrace.ingest.HtmlExtractor;
import millrace.protocol.JsonSerde;
import org.jsoup.Jsoup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * HTML extraction quality: every page of the Python 3.11 documentation that ships its reStructuredText source
 * beside it ({@code _sources/PAGE.rst.txt}) is extracted, and the extracted words are scored against the source's
 * words (bag-of-words F1 over lower-cased letter/digit runs). The peer is jsoup's whole-body text: what one gets
 * without main-content extraction.
 */
@Command(name = "extract", mixinStandardHelpOptions = true,
        description = "Token-level F1 of HTML main-content extraction against the source text shipped with the pages "
                + "(python3.11-doc), next to jsoup's whole-body text.")
final class ExtractBench implements Callable<Integer> {
    @Option(names = "--html", defaultValue = "/usr/share/doc/python3.11/html", description = "Sphinx HTML root (default: ${DEFAULT-VALUE}).")
    Path html;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--worst", defaultValue = "0", description = "Also list the N pages with the lowest F1.")
    int worst;

    @Override
    public Integer call() throws Exception {
        if (!Files.isDirectory(html)) throw new IllegalArgumentException(html + " is missing: apt-get install python3.11-doc");
        Path sources = html.resolve("_sources");
        List<Path> pages;
        try (Stream<Path> walk = Files.walk(html)) {
            pages = walk.filter(p -> p.toString().endsWith(".html") && !p.startsWith(sources))
                    .filter(p -> Files.exists(sourceOf(sources, html.relativize(p)))).sorted().toList();
        }
        Map<String, Double> perPage = new HashMap<>();
        Score ours = new Score();
        Score peer = new Score();
        Score all = new Score();
        int navigation = 0;
        long bytes = 0;
        long nanos = 0;
        for (Path page : pages) {
            byte[] raw = Files.readAllBytes(page);
            bytes += raw.length;
            Map<String, Integer> truth = words(Files.readString(sourceOf(sources, html.relativize(page))));
            String text = new String(raw, java.nio.charset.StandardCharsets.UTF_8);
            long t = System.nanoTime();
            String extracted = HtmlExtractor.extract(Jsoup.parse(text)).text();
            nanos += System.nanoTime() - t;
            all.add(words(extracted), truth);
            org.jsoup.nodes.Document whole = Jsoup.parse(text);
            if (linkShare(whole) > 0.5) { // a table of contents: its source is a toctree of file names, not its text
                navigation++;
                continue;
            }
            double f1 = ours.add(words(extracted), truth);
            perPage.put(html.relativize(page).toString(), f1);
            peer.add(words(whole.body().text()), truth);
        }
        double mbps = bytes / 1e6 / (nanos / 1e9);
        perPage.entrySet().stream().sorted(Map.Entry.comparingByValue()).limit(worst)
                .forEach(e -> System.err.printf("%.3f %s%n", e.getValue(), e.getKey()));
        ObjectNode o = JsonSerde.MAPPER.createObjectNode();
        o.put("pages", pages.size() - navigation).put("navigation_pages_skipped", navigation)
                .put("f1_macro_all_pages", all.macro()).put("f1_macro", ours.macro()).put("f1_micro", ours.micro())
                .put("precision_micro", ours.precision()).put("recall_micro", ours.recall())
                .put("peer", "jsoup body text").put("peer_f1_macro", peer.macro()).put("peer_f1_micro", peer.micro())
                .put("peer_precision_micro", peer.precision()).put("mb_per_s", mbps);
        if (json) {
            System.out.println(JsonSerde.MAPPER.writeValueAsString(o));
        } else {
            System.out.printf("%d content pages (%d table-of-contents pages left out; with them F1 %.3f):%n",
                    pages.size() - navigation, navigation, all.macro());
            System.out.printf("Millrace extractor token F1 %.3f (mean over pages; %.3f pooled: precision %.3f,"
                    + " recall %.3f), %.1f MB/s of HTML%n", ours.macro(), ours.micro(), ours.precision(), ours.recall(), mbps);
            System.out.printf("peer: jsoup whole-body text F1 %.3f (pooled %.3f: precision %.3f, recall %.3f)%n",
                    peer.macro(), peer.micro(), peer.precision(), peer.recall());
        }
        return 0;
    }

    /** Share of the main content's text that is link text. */
    static double linkShare(org.jsoup.nodes.Document page) {
        org.jsoup.nodes.Element main = page.selectFirst("[role=main]");
        if (main == null) main = page.body();
        long all = main.text().length();
        long links = main.select("a").stream().mapToLong(a -> a.text().length()).sum();
        return all == 0 ? 0 : (double) links / all;
    }

    private static Path sourceOf(Path sources, Path relativeHtml) {
        String name = relativeHtml.toString();
        return sources.resolve(name.substring(0, name.length() - ".html".length()) + ".rst.txt");
    }

    /** Lower-cased runs of letters and digits, counted. */
    static Map<String, Integer> words(String text) {
        Map<String, Integer> out = new HashMap<>();
        StringBuilder w = new StringBuilder();
        for (int i = 0; i <= text.length(); i++) {
            char c = i < text.length() ? text.charAt(i) : ' ';
            if (Character.isLetterOrDigit(c)) {
                w.append(Character.toLowerCase(c));
            } else if (!w.isEmpty()) {
                out.merge(w.toString(), 1, Integer::sum);
                w.setLength(0);
            }
        }
        return out;
    }

    /** Bag-of-words F1, per page (macro) and pooled (micro). */
    private static final class Score {
        double f1Sum;
        int pages;
        long common;
        long predicted;
        long actual;

        /** Adds a page; returns its F1. */
        double add(Map<String, Integer> got, Map<String, Integer> truth) {
            long c = 0;
            for (Map.Entry<String, Integer> e : got.entrySet()) c += Math.min(e.getValue(), truth.getOrDefault(e.getKey(), 0));
            long p = got.values().stream().mapToLong(Integer::longValue).sum();
            long a = truth.values().stream().mapToLong(Integer::longValue).sum();
            double precision = p == 0 ? 0 : (double) c / p;
            double recall = a == 0 ? 0 : (double) c / a;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            f1Sum += f1;
            pages++;
            common += c;
            predicted += p;
            actual += a;
            return f1;
        }

        double macro() {
            return pages == 0 ? 0 : f1Sum / pages;
        }

        double precision() {
            return predicted == 0 ? 0 : (double) common / predicted;
        }

        double recall() {
            return actual == 0 ? 0 : (double) common / actual;
        }

        double micro() {
            double p = precision();
            double r = recall();
            return p + r == 0 ? 0 : 2 * p * r / (p + r);
        }
    }
}
