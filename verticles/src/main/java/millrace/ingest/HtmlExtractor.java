package millrace.ingest;

import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import org.jsoup.nodes.Element;
import org.jsoup.nodes.Node;
import org.jsoup.nodes.TextNode;
import org.jsoup.select.Elements;

/**
 * Main-content extraction from an HTML page: what a reader of the page reads, without its navigation, sidebars,
 * footers, scripts, styles and forms. Three steps:
 * <ol>
 *   <li>drop what is never content: non-text elements, navigation landmarks ({@code nav}, {@code role=navigation},
 *       ...) and blocks whose class or id says they are boilerplate ({@code sidebar}, {@code footer}, ...);</li>
 *   <li>choose the root: the page's own {@code main}/{@code article} if it marks one, else the tightest element
 *       holding 80% of the remaining non-link text (navigation that survived step 1 is mostly link text);</li>
 *   <li>render it as paragraphs separated by blank lines, keeping {@code pre} verbatim.</li>
 * </ol>
 * The same code serves the HTML reader, the WARC reader, {@code millrace extract} and {@code millrace bench extract}.
 */
public final class HtmlExtractor {
    private HtmlExtractor() {}

    /** The page title and its main-content text. */
    public record Extracted(String title, String text) {}

    private static final String NEVER_CONTENT = "script, style, noscript, template, iframe, object, embed, svg, canvas,"
            + " video, audio, map, form, button, input, select, textarea, dialog, nav, aside, menu,"
            + " [role=navigation], [role=banner], [role=contentinfo], [role=complementary], [role=search],"
            + " [role=menu], [role=menubar], [aria-hidden=true], [hidden], a.headerlink";

    /** Class or id words (split at {@code - _} and spaces) that mark a block as page furniture. */
    private static final Set<String> BOILERPLATE_WORDS = Set.of("nav", "navbar", "navigation", "menu", "sidebar",
            "sphinxsidebar", "sphinxsidebarwrapper", "footer", "breadcrumb", "breadcrumbs", "related", "comments",
            "cookie", "cookies", "consent", "banner", "advert", "advertisement", "ads", "share", "sharing", "social",
            "skip", "masthead", "topbar", "toolbar", "pagination", "pager", "newsletter", "subscribe", "popup",
            "modal", "widget");

    private static final Set<String> BLOCKS_CHECKED_FOR_BOILERPLATE = Set.of("div", "section", "ul", "ol", "table",
            "header", "footer", "p", "span", "td");

    private static final Set<String> PARAGRAPH_BLOCKS = Set.of("p", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
            "blockquote", "table", "ul", "ol", "dl", "figure", "figcaption", "hr", "section", "article", "main",
            "header", "footer", "address", "details", "summary", "fieldset");

    private static final Set<String> LINE_BLOCKS = Set.of("div", "li", "tr", "dt", "dd", "caption", "body", "center",
            "thead", "tbody", "tfoot", "option", "legend");

    public static Extracted extract(org.jsoup.nodes.Document page) {
        String title = page.title().strip();
        Element body = page.body();
        if (body == null) return new Extracted(title, "");
        body.select(NEVER_CONTENT).remove();
        for (Element e : body.getAllElements()) {
            if (e != body && e.parent() != null && BLOCKS_CHECKED_FOR_BOILERPLATE.contains(e.normalName())
                    && isBoilerplate(e)) {
                e.remove();
            }
        }
        Element root = chooseRoot(body);
        if (root == body) body.select("header").remove(); // a site header; an article's own header stays
        StringBuilder out = new StringBuilder();
        render(root, out, false);
        return new Extracted(title, tidy(out));
    }

    static boolean isBoilerplate(Element e) {
        String names = (e.className() + " " + e.id()).toLowerCase(Locale.ROOT);
        if (names.isBlank()) return false;
        return Arrays.stream(names.split("[\\s_-]+")).anyMatch(BOILERPLATE_WORDS::contains);
    }

    private static Element chooseRoot(Element body) {
        Elements marked = body.select("main, [role=main], article");
        Element best = null;
        long bestText = 0;
        for (Element e : marked) {
            long n = e.text().length();
            if (n > bestText) {
                best = e;
                bestText = n;
            }
        }
        if (best != null && bestText >= 100) return best;
        Element current = body;
        while (true) {
            long total = nonLinkText(current);
            Element next = null;
            for (Element child : current.children()) {
                if (nonLinkText(child) >= 0.8 * total) {
                    next = child;
                    break;
                }
            }
            if (next == null || total == 0) return current;
            current = next;
        }
    }

    private static long nonLinkText(Element e) {
        long links = 0;
        for (Element a : e.select("a")) links += a.text().length();
        return Math.max(0, e.text().length() - links);
    }

    private static void render(Node node, StringBuilder out, boolean verbatim) {
        if (node instanceof TextNode text) {
            if (verbatim) {
                out.append(text.getWholeText());
            } else {
                String t = text.getWholeText().replaceAll("[\\s\\u00A0]+", " ");
                if (t.startsWith(" ") && (out.isEmpty() || Character.isWhitespace(out.charAt(out.length() - 1)))) {
                    t = t.substring(1);
                }
                out.append(t);
            }
            return;
        }
        if (!(node instanceof Element e)) return;
        String tag = e.normalName();
        if (tag.equals("br")) {
            out.append('\n');
            return;
        }
        if (tag.equals("img")) return;
        boolean paragraph = PARAGRAPH_BLOCKS.contains(tag);
        boolean line = LINE_BLOCKS.contains(tag);
        if (paragraph) out.append("\n\n");
        else if (line) out.append('\n');
        else if (tag.equals("td") || tag.equals("th")) out.append(' ');
        boolean pre = verbatim || tag.equals("pre");
        for (Node child : e.childNodes()) render(child, out, pre);
        if (paragraph) out.append("\n\n");
        else if (line) out.append('\n');
    }

    /** Strips trailing spaces from lines and allows at most one blank line between paragraphs. */
    private static String tidy(StringBuilder raw) {
        String[] lines = raw.toString().split("\n", -1);
        StringBuilder out = new StringBuilder(raw.length());
        int blank = 0;
        for (String l : lines) {
            String line = l.stripTrailing();
            if (line.isBlank()) {
                blank++;
                continue;
            }
            if (!out.isEmpty()) out.append(blank > 0 ? "\n\n" : "\n");
            blank = 0;
            out.append(line);
        }
        return out.toString();
    }
}
