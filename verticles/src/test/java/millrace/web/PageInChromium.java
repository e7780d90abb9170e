package millrace.web;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import millrace.ExternalTools;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The web page in a real browser — Debian's headless Chromium, driven through its ChromeDriver — as a person uses
 * it: the live dashboard fills in from the server-sent status, and a generation streams into the page token by token.
 */
public final class PageInChromium {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private PageInChromium() {}

    /** Whether this machine has Chromium and ChromeDriver (CI must: there a missing one fails the test). */
    public static boolean available() {
        return ExternalTools.available("chromium", "apt-get install chromium chromium-driver")
                && ExternalTools.available("chromedriver", "apt-get install chromium chromium-driver");
    }

    /**
     * Opens {@code base}, waits for the dashboard to show {@code documentsIn} documents and a training step, then
     * generates from {@code prompt} and checks the answer grew in several steps before the summary line came.
     */
    public static void dashboardAndStreamingGeneration(String base, long documentsIn, String prompt) throws Exception {
        Path profile = Files.createTempDirectory("millrace-chromium");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(ExternalTools.require("chromium", "apt-get install chromium").toFile());
        // as root, on a machine without a network: no sandbox, no background connections Chromium would retry
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + profile);
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(ExternalTools.require("chromedriver", "apt-get install chromium-driver").toFile())
                .usingAnyFreePort().build();
        WebDriver driver = new ChromeDriver(service, options);
        try {
            driver.get(base + "/");
            assertEquals("Millrace", driver.getTitle());
            await("the dashboard's document count", () -> text(driver, "docs-in").equals(Long.toString(documentsIn)));
            await("a training step on the dashboard", () -> text(driver, "step").matches("[0-9,]+"));

            JavascriptExecutor js = (JavascriptExecutor) driver;
            // every state the answer goes through, as the browser renders it
            js.executeScript("window.answerStates = [];"
                    + "new MutationObserver(() => window.answerStates.push(document.getElementById('answer').textContent))"
                    + ".observe(document.getElementById('answer'), {childList: true, subtree: true, characterData: true});");
            driver.findElement(By.id("prompt")).clear();
            driver.findElement(By.id("prompt")).sendKeys(prompt);
            driver.findElement(By.id("max-tokens")).clear();
            driver.findElement(By.id("max-tokens")).sendKeys("32");
            driver.findElement(By.id("generate-button")).click();
            await("the generation's summary line", () -> text(driver, "answer-meta").contains("tokens in"));

            // textContent, as the observer recorded the states: getText() would fold the answer's whitespace
            String answer = (String) js.executeScript("return document.getElementById('answer').textContent;");
            assertTrue(answer.startsWith(prompt) && answer.length() > prompt.length(), answer);
            @SuppressWarnings("unchecked")
            List<String> states = (List<String>) js.executeScript("return window.answerStates;");
            List<String> growing = states.stream().filter(s -> s.startsWith(prompt) && s.length() > prompt.length())
                    .distinct().toList();
            assertTrue(growing.size() >= 2, "the answer appeared at once, not streamed: " + states);
            for (String s : growing) assertTrue(answer.startsWith(s), "a state that is not a prefix of the answer: " + s);
            assertTrue(text(driver, "answer-meta").matches(".*from the checkpoint at step \\d+.*"), text(driver, "answer-meta"));
        } finally {
            driver.quit();
        }
    }

    private static String text(WebDriver driver, String id) {
        return driver.findElement(By.id(id)).getText().trim();
    }

    private static void await(String what, Supplier<Boolean> ok) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!ok.get()) {
            if (System.nanoTime() > deadline) fail("no " + what + " within " + WAIT.toSeconds() + " s");
            Thread.sleep(100);
        }
    }
}
