package millrace.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import millrace.ingest.HtmlExtractor;
import org.jsoup.Jsoup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Prints what the ingest stage reads from an HTML page: the same extractor. */
@Command(name = "extract", mixinStandardHelpOptions = true,
        description = "Print the main-content text of an HTML file, exactly as the ingest stage extracts it.")
final class ExtractCommand implements Callable<Integer> {
    @Parameters(paramLabel = "FILE.html", description = "An HTML file.")
    Path file;

    @Option(names = "--title", description = "Print the page title first.")
    boolean title;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("no such file: " + file);
        HtmlExtractor.Extracted e = HtmlExtractor.extract(Jsoup.parse(file.toFile()));
        if (title) System.out.println(e.title() + "\n");
        System.out.println(e.text());
        return 0;
    }
}
