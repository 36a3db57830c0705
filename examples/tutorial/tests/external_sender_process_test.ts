/**
 * Tutorial part 4 against Redis: `external_sender.ts` runs as a real separate process (what
 * `deno task send` does) and its events reach communicators connected to this process's app.
 * Needs REDIS_URL; both processes use this test file's namespace (TEST_PREFIX of test_env.ts,
 * unique per file and run), so test files and runs side by side never see each other's events.
 */
import { CHILD_ENV, TEST_PREFIX } from "./test_env.ts";
import assert from "node:assert/strict";
import type { WebsocketCommunicator } from "../../../testing/mod.ts";
import { EVENT_ACTION_COMPLETE } from "../../../testing/mod.ts";
import { ANALYTICS_EVENTS } from "../external_sender.ts";
import { layerBackend } from "../layers.ts";
import { AnalyticsNotificationMessage } from "../showcase/messages.ts";
import { chatNotice, connectShowcase, notice } from "./showcase_helpers.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") || undefined;
const SENDER = new URL("../external_sender.ts", import.meta.url);
const ROOT = new URL("../../../", import.meta.url);

/** Reads `count` events (each ends with `event_complete`) and returns their frames in order. */
async function events(comm: WebsocketCommunicator, count: number) {
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push(...await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }));
  }
  return out;
}

async function runSender(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", SENDER.pathname, ...args],
    cwd: ROOT.pathname,
    env: {
      ...CHILD_ENV,
      REDIS_URL: REDIS_URL!,
      SWITCHBOARD_PREFIX: TEST_PREFIX,
      SENDER_DELAY_SCALE: "0",
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

Deno.test({
  name: "external sender as a separate process reaches every showcase consumer over Redis",
  ignore: !REDIS_URL,
  async fn() {
    assert.equal(layerBackend(), "redis");
    await using showcase = await connectShowcase();

    const { code, stdout, stderr } = await runSender([]);
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.equal(stdout.split("\n").filter((l) => l.startsWith("✅")).length, 3 + 5 + 3);

    // The process has exited: everything it sent is in Redis, in order per connection.
    assert.deepEqual(await events(showcase.chat, 3), [
      chatNotice("🔔 System announcement: Welcome to the chat!"),
      chatNotice("⏰ Hourly chat announcement #1"),
      chatNotice("⏰ Hourly chat announcement #3"),
    ]);
    assert.deepEqual(await events(showcase.reliable, 1), [
      chatNotice("🔒 Important: System maintenance scheduled for tonight"),
    ]);
    assert.deepEqual(await events(showcase.notifications, 2), [
      notice("system", "🚨 Alert: High CPU usage detected on server"),
      notice("periodic", "🔔 System status update #2"),
    ]);
    assert.deepEqual(
      await events(showcase.analytics, ANALYTICS_EVENTS.length),
      ANALYTICS_EVENTS.map((event) => AnalyticsNotificationMessage.create({ event, data: null })),
    );
    // …and nothing else.
    assert.deepEqual(await showcase.received(), {
      chat: [],
      reliable: [],
      notifications: [],
      analytics: [],
    });
  },
});

Deno.test({
  name: "external sender process: named senders only; an unknown name exits 2 and sends nothing",
  ignore: !REDIS_URL,
  async fn() {
    await using showcase = await connectShowcase();
    const bad = await runSender(["chat", "nope"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Unknown sender\(s\) nope; choose from chat, reliable/);

    const { code, stdout, stderr } = await runSender(["notification"]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /✅ Sent notification/);
    assert.deepEqual(await showcase.received(), {
      chat: [],
      reliable: [],
      notifications: [notice("system", "🚨 Alert: High CPU usage detected on server")],
      analytics: [],
    });
  },
});
