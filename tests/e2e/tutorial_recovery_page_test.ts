/**
 * The tutorial's room chat recovers a gap in the browser (issue 19, docs/recovery.md): `deno task
 * dev` on a private Redis (CHAT_HISTORY is on by default), page A opened through a
 * {@linkcode TcpProxy} so the test can cut its sockets, page B straight on the app. While A is cut
 * off (its sockets cut, new ones refused), B says two lines; when the proxy heals, A reconnects
 * with its last positions and shows "↺ N missed message(s) recovered" and the two lines, once.
 * Then the history is lost while A is cut off again (FLUSHALL on the private Redis): A shows
 * "Missed messages could not be recovered (epoch_changed)", and what was said after the flush.
 *
 * The recovered state's screenshot is docs/recovery.png (written again with UPDATE_SCREENSHOTS=1;
 * otherwise to tests/screenshots/).
 * Needs /usr/bin/chromium (CHROMIUM_PATH to override); skipped without it (fails under CI).
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import {
  freePort,
  spawnApp,
  type SpawnedApp,
  startRedis,
  TcpProxy,
} from "@switchboard/switchboard/testing";
import { haveChromium, launchChromium, SCREENSHOTS } from "../helpers/browser.ts";

const ROOT = new URL("../../", import.meta.url);
/** docs/recovery.png with UPDATE_SCREENSHOTS=1; else tests/screenshots/ (git-ignored). */
const SHOT = Deno.env.get("UPDATE_SCREENSHOTS")
  ? new URL("docs/recovery.png", ROOT)
  : new URL("tutorial-recovered.png", SCREENSHOTS);
const WAIT = 30_000; // upper bound for anything that must happen; never a sleep
const ROOM = "recovery room";

function devServer(
  port: number,
  env: Record<string, string>,
): Promise<SpawnedApp> {
  return spawnApp("", env, {
    port,
    cwd: ROOT.pathname,
    command: [Deno.execPath(), "task", "dev"],
    ready: /Switchboard tutorial on http:\/\//,
    startTimeoutMs: WAIT,
  });
}

async function state(
  page: Page,
  testId: string,
  expected: string,
): Promise<void> {
  await page.waitForFunction(
    ([id, want]) => {
      // deno-lint-ignore no-explicit-any
      const el = (globalThis as any).document.querySelector(
        `[data-testid=${id}]`,
      );
      return el?.dataset.state === want;
    },
    [testId, expected] as const,
    { timeout: WAIT },
  );
}

async function logged(page: Page, text: string | RegExp): Promise<void> {
  const log = page.getByTestId("room-log");
  const line = typeof text === "string"
    ? log.getByText(text, { exact: true })
    : log.getByText(text);
  await line.first().waitFor({ timeout: WAIT });
}

async function count(page: Page, text: string): Promise<number> {
  return await page.getByTestId("room-log").getByText(text, { exact: true })
    .count();
}

async function submit(
  page: Page,
  form: string,
  values: Record<string, string>,
): Promise<void> {
  const f = page.getByTestId(form);
  for (const [name, value] of Object.entries(values)) {
    await f.locator(`[name=${name}]`).fill(value);
  }
  await f.locator("button").click();
}

/** Cuts every socket of the pages behind `proxy` and refuses new ones until `heal()`. */
async function cutOff(page: Page, proxy: TcpProxy): Promise<void> {
  proxy.refuse();
  proxy.cut();
  await state(page, "room-state", "reconnecting");
}

Deno.test({
  name:
    "e2e: the tutorial's room chat shows a recovered gap after a cut, and a notice when the history is gone",
  ignore: !haveChromium,
  sanitizeResources: false, // playwright's own pipes to the browser outlive single steps
  sanitizeOps: false,
  async fn(t) {
    await using redis = await startRedis();
    const port = freePort();
    const proxy = await TcpProxy.start(port);
    const viaProxy = `http://127.0.0.1:${proxy.port}`;
    const server = await devServer(port, {
      REDIS_URL: redis.url,
      NATS_URL: "", // the app would pick NATS if this process has it set
      SWITCHBOARD_PREFIX: `e2e-${crypto.randomUUID().slice(0, 8)}`,
      ALLOWED_ORIGINS: viaProxy,
      CHAT_HISTORY: "on", // the default, said explicitly: the tutorial's own tests turn it off
    });
    let browser: Browser | undefined;
    const problems: string[] = [];
    try {
      browser = await launchChromium();
      const a = await browser.newPage({
        viewport: { width: 1400, height: 1000 },
      });
      const b = await browser.newPage({
        viewport: { width: 1400, height: 1000 },
      });
      for (const [name, page] of [["A", a], ["B", b]] as const) {
        page.on(
          "pageerror",
          (e) => problems.push(`page ${name} error: ${e.message}`),
        );
      }
      await a.goto(viaProxy);
      await b.goto(`http://127.0.0.1:${port}`);
      for (const page of [a, b]) {
        await submit(page, "room-join", { room: ROOM });
        await state(page, "room-state", "open");
      }
      await submit(b, "room-form", { message: "before the cut" });
      await logged(a, "💬 before the cut");

      await t.step(
        "a cut-off page gets the missed lines back and says so",
        async () => {
          await cutOff(a, proxy);
          await submit(b, "room-form", {
            message: "said while A was away (1)",
          });
          await submit(b, "room-form", {
            message: "said while A was away (2)",
          });
          await logged(b, "💬 said while A was away (2)");
          proxy.heal();
          await state(a, "room-state", "open");
          await logged(a, /^↺ \d+ missed message\(s\) recovered$/);
          await logged(a, "💬 said while A was away (1)");
          await logged(a, "💬 said while A was away (2)");
          const notice = await a.getByTestId("room-log").getByText(
            /missed message\(s\) recovered/,
          )
            .textContent();
          const n = Number(/(\d+)/.exec(notice ?? "")?.[1]);
          assert.ok(n >= 2, `at least the two lines were replayed: ${notice}`);
          // Exactly once each: the replay and the live stream meet without a duplicate.
          assert.equal(await count(a, "💬 before the cut"), 1);
          assert.equal(await count(a, "💬 said while A was away (1)"), 1);
          assert.equal(await count(a, "💬 said while A was away (2)"), 1);
          assert.equal(
            await a.getByTestId("room-log").getByText(/could not be recovered/)
              .count(),
            0,
          );
          // Live again after the replay.
          await submit(b, "room-form", { message: "after the recovery" });
          await logged(a, "💬 after the recovery");
          await a.getByTestId("room-log").scrollIntoViewIfNeeded();
          await Deno.mkdir(new URL(".", SHOT), { recursive: true });
          await a.screenshot({ path: SHOT.pathname, fullPage: true });
        },
      );

      await t.step("a lost history is told, never a silent gap", async () => {
        await cutOff(a, proxy);
        await submit(b, "room-form", { message: "lost with the history" });
        await logged(b, "💬 lost with the history");
        await redis.flush(); // FLUSHALL: the room's history (and its epoch) is gone
        await submit(b, "room-form", { message: "said after the flush" });
        await logged(b, "💬 said after the flush");
        proxy.heal();
        await state(a, "room-state", "open");
        await logged(
          a,
          /^⚠️ Missed messages could not be recovered \(epoch_changed\)$/,
        );
        // What the new history holds follows the notice.
        await logged(a, "💬 said after the flush");
        assert.equal(await count(a, "💬 lost with the history"), 0);
      });
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await server.kill("SIGTERM");
      await proxy.close();
    }
  },
});
