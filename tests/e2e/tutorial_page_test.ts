/**
 * The tutorial as a user meets it: `deno task dev` started as a real process with the kit's
 * `spawnApp` (PORT picks a free port; the test waits for its "listening" line), and the page at `/` in headless Chromium
 * (Debian's `chromium` driven by `playwright-core`): system echo, two pages chatting in one room,
 * a translate job, a server error rendered, and a server restart the page survives. Screenshots
 * go to tests/screenshots/ (git-ignored).
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it). Without it the
 * test is skipped locally and fails under CI.
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { freePort, spawnApp, type SpawnedApp } from "@switchboard/switchboard/testing";
import { haveChromium, launchChromium, SCREENSHOTS } from "../helpers/browser.ts";

const ROOT = new URL("../../", import.meta.url);
const WAIT = 30_000; // upper bound for anything that must happen; never a sleep

/**
 * `deno task dev` — the README quick start — as a child process, started with the kit's
 * `spawnApp` (ready once it prints its "listening" line). Stop it with `kill("SIGTERM")`: `deno
 * task` forwards it, the app closes its sockets with 1001 and exits 0.
 */
function devServer(
  port: number,
  prefix: string,
  env: Record<string, string> = {},
): Promise<SpawnedApp> {
  return spawnApp("", { SWITCHBOARD_PREFIX: prefix, ...env }, {
    port,
    cwd: ROOT.pathname,
    command: [Deno.execPath(), "task", "dev"],
    ready: /Switchboard tutorial on http:\/\//,
    startTimeoutMs: WAIT,
  });
}

async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: new URL(name, SCREENSHOTS).pathname, fullPage: true });
}

async function state(page: Page, testId: string, expected: string | RegExp): Promise<void> {
  const want = typeof expected === "string" ? `^${expected}$` : expected.source;
  await page.waitForFunction(
    ([id, re]) => {
      // deno-lint-ignore no-explicit-any
      const el = (globalThis as any).document.querySelector(`[data-testid=${id}]`);
      return el && new RegExp(re).test(el.dataset.state ?? "");
    },
    [testId, want] as const,
    { timeout: WAIT },
  );
}

async function logged(page: Page, testId: string, text: string): Promise<void> {
  await page.getByTestId(testId).getByText(text, { exact: true }).first().waitFor({
    timeout: WAIT,
  });
}

async function submit(page: Page, form: string, values: Record<string, string>): Promise<void> {
  const f = page.getByTestId(form);
  for (const [name, value] of Object.entries(values)) {
    const field = f.locator(`[name=${name}]`);
    if ((await field.evaluate((el) => el.tagName)) === "SELECT") await field.selectOption(value);
    else await field.fill(value);
  }
  await f.locator("button").click();
}

Deno.test({
  name:
    "e2e: deno task dev + the page in Chromium — echo, room chat across pages, a job, errors, a restart",
  ignore: !haveChromium,
  sanitizeResources: false, // playwright's own pipes to the browser outlive single steps
  sanitizeOps: false,
  async fn(t) {
    const port = freePort();
    const prefix = `e2e-${crypto.randomUUID().slice(0, 8)}`;
    const origin = `http://127.0.0.1:${port}`;
    let server = await devServer(port, prefix);
    let browser: Browser | undefined;
    const problems: string[] = [];
    try {
      browser = await launchChromium();
      const a = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const b = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      // Until the restart step, the console must stay clean: no failed probe (426), no missing
      // favicon (404), no refused socket.
      const consoleErrors: string[] = [];
      for (const [name, page] of [["A", a], ["B", b]] as const) {
        page.on("pageerror", (e) => problems.push(`page ${name} error: ${e.message}`));
        page.on("console", (m) => {
          if (m.type() === "error") consoleErrors.push(`page ${name}: ${m.text()}`);
        });
        page.on("response", (r) => {
          if (r.status() >= 400) consoleErrors.push(`page ${name}: ${r.status()} ${r.url()}`);
        });
      }
      await a.goto(origin);
      await b.goto(origin);

      await t.step("system echo round trip", async () => {
        await state(a, "system-state", "open");
        await logged(a, "system-log", "🔧 System: Connection established!");
        await submit(a, "system-form", { message: "hello from the browser" });
        await logged(a, "system-log", "🔧 System Echo: hello from the browser");
      });

      await t.step("two pages in one room see each other's messages and join notices", async () => {
        await submit(a, "room-join", { room: "e2e room" });
        await state(a, "room-state", "open");
        await submit(b, "room-join", { room: "e2e room" });
        await state(b, "room-state", "open");
        await logged(a, "room-log", "🚪 Someone joined room 'e2e room'");
        await submit(b, "room-form", { message: "hi from B" });
        await logged(a, "room-log", "💬 hi from B");
        await logged(b, "room-log", "💬 hi from B");
        await submit(a, "room-form", { message: "hi from A" });
        await logged(b, "room-log", "💬 hi from A");
      });

      await t.step("a translate job's result arrives", async () => {
        await state(a, "jobs-state", /^(open|unavailable)$/);
        const jobs = await a.getByTestId("jobs-state").getAttribute("data-state");
        if (jobs === "unavailable") {
          console.warn("SKIPPED: /ws/background_jobs is not mounted by the tutorial app");
          return;
        }
        await state(a, "jobs-state", "open");
        await submit(a, "jobs-form", { type: "translate", content: "hello" });
        await logged(a, "jobs-log", "🌍 Translated: 'hello' → 'hola'");
      });

      await t.step("showcase panels (when mounted) and the analytics button", async () => {
        await state(a, "chat-state", /./); // decided: mounted (a connection state) or not
        const chat = await a.getByTestId("chat-state").getAttribute("data-state");
        if (chat === "unavailable") {
          console.warn("SKIPPED: the showcase endpoints (/ws/chat …) are not mounted yet");
          assert.equal(await a.getByTestId("analytics-state").textContent(), "unavailable");
          return;
        }
        await state(a, "chat-state", "open");
        await submit(a, "showcase-form", { message: "showcase hello" });
        await a.getByTestId("showcase-log").getByText("showcase hello").first().waitFor({
          timeout: WAIT,
        });
        if ((await a.getByTestId("analytics-state").getAttribute("data-state")) === "open") {
          await a.getByTestId("analytics-button").click();
          await a.getByTestId("showcase-log").getByText("page_view").first().waitFor({
            timeout: WAIT,
          });
        }
      });

      await t.step("a server error frame is rendered", async () => {
        // Forge a bad frame through the page's own client, as a buggy page script would.
        await a.evaluate(() => {
          // deno-lint-ignore no-explicit-any
          (globalThis as any).switchboardDemo.system.send({ action: "no_such_action" });
        });
        await a.getByTestId("system-log").getByText(/⚠️ Input tag 'no_such_action'/).waitFor({
          timeout: WAIT,
        });
      });

      await screenshot(a, "tutorial-page-a.png");
      await screenshot(b, "tutorial-page-b.png");

      await t.step("no console errors and no failed requests on load and use", async () => {
        // The favicon is requested after load; wait for it rather than racing it.
        const icon = await a.evaluate(async () => (await fetch("/favicon.ico")).status);
        assert.equal(icon, 200);
        // The one deliberate error above is a frame, not a console error.
        assert.deepEqual(consoleErrors, []);
      });

      await t.step("the page survives a server restart", async () => {
        const status = await server.kill("SIGTERM");
        assert.equal(status.code, 0, server.output());
        await state(a, "system-state", /^(reconnecting|connecting)$/);
        await logged(a, "system-log", "Connection lost — reconnecting…");
        // Typed while the server is down: queued by the client, sent after the reconnect.
        await submit(a, "system-form", { message: "sent while the server was down" });
        await screenshot(a, "tutorial-page-down.png");
        server = await devServer(port, prefix);
        await state(a, "system-state", "open");
        await logged(a, "system-log", "Reconnected");
        await logged(a, "system-log", "🔧 System Echo: sent while the server was down");
        // The room chat reconnects too: B rejoining announces itself to A again.
        await state(a, "room-state", "open");
        await state(b, "room-state", "open");
        await submit(a, "room-form", { message: "after the restart" });
        await logged(b, "room-log", "💬 after the restart");
        await screenshot(a, "tutorial-page-after-restart.png");
      });
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await server.kill("SIGTERM");
    }
  },
});

Deno.test({
  name:
    "e2e: a page opened under a name is refused, says why in the page and the log; ALLOWED_ORIGINS widens it",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = freePort();
    const prefix = `e2e-${crypto.randomUUID().slice(0, 8)}`;
    const named = `http://app.test:${port}`;
    let server = await devServer(port, prefix);
    const browser = await launchChromium([`--host-resolver-rules=MAP app.test 127.0.0.1`]);
    try {
      const page = await browser.newPage();
      await page.goto(named);
      const banner = page.getByTestId("origin-refused");
      await banner.waitFor({ timeout: WAIT });
      const text = (await banner.textContent()) ?? "";
      assert.match(text, /refuses WebSockets from this page's origin \(http:\/\/app\.test:\d+\)/);
      assert.match(text, new RegExp(`ALLOWED_ORIGINS=${named.replaceAll(".", "\\.")}`));
      await state(page, "system-state", "refused");
      await server.kill("SIGTERM");
      assert.ok(server.output().includes(`restart with ALLOWED_ORIGINS=${named}`), server.output());
      server = await devServer(port, prefix, { ALLOWED_ORIGINS: named });
      await page.reload();
      await state(page, "system-state", "open");
      assert.equal(await page.getByTestId("origin-refused").count(), 0);
      assert.ok(server.output().includes(`and ${named} (ALLOWED_ORIGINS)`), server.output());
    } finally {
      await browser.close();
      await server.kill("SIGTERM");
    }
  },
});
