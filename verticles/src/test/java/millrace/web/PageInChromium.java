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
        WebDriver driver = open();
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

    /**
     * Opens {@code base} serving a chat model: the generate box offers chat, checked; asks {@code prompt} greedily and
     * returns the answer box's text once the summary line came.
     */
    public static String chat(String base, String prompt) throws Exception {
        WebDriver driver = open();
        try {
            driver.get(base + "/");
            await("the chat option for a chat model", () -> driver.findElement(By.id("chat-label")).isDisplayed());
            assertTrue(driver.findElement(By.id("chat")).isSelected(), "chat is on by default for a chat model");
            driver.findElement(By.id("prompt")).clear();
            driver.findElement(By.id("prompt")).sendKeys(prompt);
            driver.findElement(By.id("temperature")).clear();
            driver.findElement(By.id("temperature")).sendKeys("0");
            driver.findElement(By.id("generate-button")).click();
            await("the generation's summary line", () -> text(driver, "answer-meta").contains("tokens in"));
            return (String) ((JavascriptExecutor) driver).executeScript("return document.getElementById('answer').textContent;");
        } finally {
            driver.quit();
        }
    }

    /** Headless Chromium as root on a machine without a network: no sandbox, no background connections. */
    private static WebDriver open() throws Exception {
        Path profile = Files.createTempDirectory("millrace-chromium");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(ExternalTools.require("chromium", "apt-get install chromium").toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1200,1400", "--user-data-dir=" + profile);
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(ExternalTools.require("chromedriver", "apt-get install chromium-driver").toFile())
                .usingAnyFreePort().build();
        return new ChromeDriver(service, options);
    }

    /**
     * A rater in the arena, keyboard first: signs in with {@code token}, asks for a comparison of a prompt that is a
     * script tag (it must show as text and not run), chooses A with {@code 1} and Enter, chooses B and takes it back
     * with {@code u}, edits answer A with {@code e} and Ctrl+Enter, gives B a thumbs up with the mouse and Enter.
     * Returns the ratings made, in order, as {@code choice:A}, {@code edit:0:text}, {@code score:1:1:THUMBS}.
     */
    public static List<String> arena(String base, String token) throws Exception {
        WebDriver driver = open();
        JavascriptExecutor js = (JavascriptExecutor) driver;
        List<String> made = new java.util.ArrayList<>();
        try {
            driver.get(base + "/#arena");
            driver.findElement(By.id("token")).sendKeys(token);
            driver.findElement(By.id("signin-button")).click();
            await("the rater's name after signing in", () -> text(driver, "rater-name").equals("kim"));

            String prompt = "<script>window.pwned = 1</script><b>bold</b>";
            driver.findElement(By.id("arena-prompt")).clear();
            driver.findElement(By.id("arena-prompt")).sendKeys(prompt);
            driver.findElement(By.id("compare-button")).click();
            await("both answers", () -> text(driver, "arena-status").startsWith("rate it"));
            for (int i = 0; i < 2; i++) {
                String shown = (String) js.executeScript("return document.getElementById('answer-" + i + "').textContent;");
                assertTrue(shown.startsWith(prompt), "the prompt is shown as text: " + shown);
                assertEquals(0L, js.executeScript("return document.querySelectorAll('#answer-" + i + " script, #answer-" + i + " b').length;"));
                assertTrue(text(driver, "version-" + i).matches("policy v\\d+"), text(driver, "version-" + i));
            }
            assertNull(js.executeScript("return window.pwned;"), "model output ran as a script");

            var keys = new org.openqa.selenium.interactions.Actions(driver);
            keys.sendKeys("1").sendKeys(org.openqa.selenium.Keys.ENTER).perform();
            awaitRated(js, 1);
            made.add("choice:A");

            keys.sendKeys("2").sendKeys(org.openqa.selenium.Keys.ENTER).perform();
            keys.sendKeys("u").perform();
            await("the undo", () -> text(driver, "arena-status").startsWith("undone"));

            keys.sendKeys("e").perform();
            var editor = driver.findElement(By.id("edit-0"));
            await("the editor of answer A", editor::isDisplayed);
            editor.clear();
            editor.sendKeys("And it was so.");
            keys.keyDown(org.openqa.selenium.Keys.CONTROL).sendKeys(org.openqa.selenium.Keys.ENTER)
                    .keyUp(org.openqa.selenium.Keys.CONTROL).perform();
            awaitRated(js, 2);
            made.add("edit:0:And it was so.");

            driver.findElement(By.cssSelector("#side-1 [data-scale='THUMBS'][data-score='1']")).click();
            keys.sendKeys(org.openqa.selenium.Keys.ENTER).perform();
            awaitRated(js, 3);
            made.add("score:1:1:THUMBS");
            await("the rater's count", () -> text(driver, "rater-count").equals("3"));
            screenshot(driver, "arena");
            // the dashboard shows the ratings too
            driver.findElement(By.id("tab-dashboard")).click();
            await("the ratings on the dashboard", () -> text(driver, "ratings-total").matches("\\d+ / \\d+ / \\d+")
                    && !text(driver, "ratings-total").equals("0 / 0 / 0"));
            screenshot(driver, "dashboard");
            return made;
        } finally {
            driver.quit();
        }
    }

    /**
     * A rater's choice reaching the model they talk to: sign in, compare, choose A, and watch the page's policy pill
     * (what the web role serves, from its live status) rise past the version the answers came from.
     */
    public static void rateAndSeeThePolicyRise(String base, String token) throws Exception {
        WebDriver driver = open();
        JavascriptExecutor js = (JavascriptExecutor) driver;
        try {
            driver.get(base + "/#arena");
            driver.findElement(By.id("token")).sendKeys(token);
            driver.findElement(By.id("signin-button")).click();
            await("the rater's name", () -> !text(driver, "rater-name").isEmpty());
            driver.findElement(By.id("compare-button")).click();
            await("both answers", () -> text(driver, "arena-status").startsWith("rate it"));
            long shown = Long.parseLong(text(driver, "version-0").replace("policy v", ""));
            var keys = new org.openqa.selenium.interactions.Actions(driver);
            keys.sendKeys("1").sendKeys(org.openqa.selenium.Keys.ENTER).perform();
            awaitRated(js, 1);
            await("a policy version above v" + shown + " in the page", () -> {
                String pill = text(driver, "serving");
                return pill.matches("policy v\\d+") && Long.parseLong(pill.substring("policy v".length())) > shown;
            });
            screenshot(driver, "policy-rose");
        } finally {
            driver.quit();
        }
    }

    /** Waits for the page to report its {@code n}th rating sent (after its undo window). */
    private static void awaitRated(JavascriptExecutor js, int n) throws InterruptedException {
        await("rating " + n + " sent", () -> String.valueOf(n).equals(js.executeScript("return document.body.dataset.rated;")));
    }

    /** A picture of the page under target/, for people to look at. */
    private static void screenshot(WebDriver driver, String name) throws Exception {
        byte[] png = ((org.openqa.selenium.TakesScreenshot) driver).getScreenshotAs(org.openqa.selenium.OutputType.BYTES);
        Files.write(Path.of("target", "page-" + name + ".png"), png);
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
