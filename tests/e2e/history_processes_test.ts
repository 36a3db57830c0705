/**
 * History and recovery across processes (issue 19's acceptance): two server processes
 * (tests/fixtures/history_app.ts, spawned) on one private Redis, a sender on one of them at about
 * 1,000 messages a second, and the typed client on the other through a TCP proxy that cuts it
 * off. The client gets every message, in order, once, and reports `recovered: true`; past the
 * history, or after FLUSHALL, it reports `recovered: false` with the reason within a second.
 *
 * `HISTORY_LONG_CUT=1` adds the 60 s cut (10,000 messages at 150/s, over a minute); `LAYER=queue`
 * runs the processes on the Redis queue layer instead of pub/sub.
 */
import assert from "node:assert/strict";
import { createClient, type RecoveryOutcome, type SwitchboardClient } from "../../client/mod.ts";
import { startRedis } from "../../testing/redis_server.ts";
import { skipReason } from "../../testing/services.ts";
import { spawnApp } from "../../testing/spawn_app.ts";
import { TcpProxy } from "../../testing/tcp_proxy.ts";

const APP = import.meta.resolve("../fixtures/history_app.ts");
const LAYER = Deno.env.get("LAYER") ?? "pubsub";
const skip = skipReason("redis");
const fast = { initialDelayMs: 20, maxDelayMs: 100, jitter: false };

interface Receiver {
  client: SwitchboardClient;
  got: number[];
  outcomes: RecoveryOutcome[];
  /** Resolves on the first `history_position` (the stream started). */
  started: Promise<void>;
}

function receiver(url: string): Receiver {
  const client = createClient(url, { reconnect: fast });
  const got: number[] = [];
  const outcomes: RecoveryOutcome[] = [];
  client.on("posted", (m) => got.push((m.payload as { n: number }).n));
  client.onRecovery((o) => outcomes.push(o));
  const started = new Promise<void>((resolve) => {
    const off = client.onAny((f) => {
      if (f.action === "history_position") {
        off();
        resolve();
      }
    });
  });
  return { client, got, outcomes, started };
}

function recovery(r: Receiver): Promise<RecoveryOutcome> {
  return new Promise((resolve) => {
    const off = r.client.onRecovery((o) => {
      off();
      resolve(o);
    });
  });
}

function cutOff(client: SwitchboardClient, proxy: TcpProxy): Promise<void> {
  const down = new Promise<void>((resolve) => {
    const off = client.onState((s) => {
      if (s === "reconnecting") {
        off();
        resolve();
      }
    });
  });
  proxy.refuse();
  proxy.cut();
  return down;
}

/** Waits until `done` holds for `r`, checked at each of its `posted` frames; at most `ms`. */
function until(r: Receiver, done: () => boolean, ms: number, what: string): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const off = r.client.on("posted", () => {
      // Called after the receiver's own listener (added first), so `got` has the frame.
      if (!done()) return;
      off();
      clearTimeout(timer);
      resolve();
    });
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${what}: not within ${ms} ms`));
    }, ms);
  });
}

function burst(url: string, count: number, perSecond: number) {
  const sender = createClient(url, { reconnect: false });
  const done = sender.request({ action: "burst", payload: { count, perSecond } }, {
    timeoutMs: 10_000 + (count * 2000) / perSecond,
  });
  return { done, close: () => sender.close() };
}

function assertAll(got: number[], count: number): void {
  assert.equal(got.length, count, `${got.length} of ${count} received`);
  for (let i = 0; i < count; i++) {
    if (got[i] !== i + 1) assert.fail(`message ${i + 1} out of order or missing: got ${got[i]}`);
  }
}

async function proxyTo(port: number) {
  const proxy = await TcpProxy.start(port);
  return Object.assign(proxy, { [Symbol.asyncDispose]: () => proxy.close() });
}

async function setup() {
  const redis = await startRedis();
  const env = { REDIS_URL: redis.url, LAYER };
  const a = await spawnApp(APP, env);
  const b = await spawnApp(APP, env);
  const proxy = await TcpProxy.start(a.port);
  return {
    redis,
    a,
    b,
    proxy,
    via: `ws://127.0.0.1:${proxy.port}`,
    async [Symbol.asyncDispose]() {
      await proxy.close();
      await a.kill();
      await b.kill();
      await redis.stop();
    },
  };
}

async function cutScenario(
  options: { count: number; perSecond: number; cutAfter: number; cutMs: number; kill?: boolean },
) {
  await using s = await setup();
  const r = receiver(`${s.via}/ws/chat`);
  await r.started; // its stream starts at the join: messages before it are not its own
  const sending = burst(`${s.b.url}/ws/sender`, options.count, options.perSecond);
  try {
    await until(r, () => r.got.length >= options.cutAfter, 30_000, "first messages");
    const back = recovery(r);
    if (options.kill) {
      // The process it was connected to dies; the client's next connection reaches the other.
      s.proxy.retarget(s.b.port);
      await s.a.kill();
    } else {
      await cutOff(r.client, s.proxy);
      await new Promise((resolve) => setTimeout(resolve, options.cutMs)); // the outage itself
      s.proxy.heal();
    }
    const outcome = await back;
    assert.equal(outcome.recovered, true, JSON.stringify(outcome));
    await sending.done;
    await until(r, () => r.got.length >= options.count, 20_000, "every message").catch((error) => {
      const missing = [];
      const seen = new Set(r.got);
      for (let n = 1; n <= options.count && missing.length < 10; n++) {
        if (!seen.has(n)) missing.push(n);
      }
      throw new Error(
        `${error.message}: ${r.got.length} received, first missing ${missing}, outcome ${
          JSON.stringify(outcome)
        }`,
      );
    });
    await new Promise((resolve) => setTimeout(resolve, 200)); // a duplicate would land here
    assertAll(r.got, options.count);
    console.log(
      `${options.count} received in order, once; recovery: ${JSON.stringify(outcome)} ` +
        `(${options.kill ? "after SIGKILL" : `after a ${options.cutMs} ms cut`})`,
    );
    return { outcome, got: r.got.length };
  } finally {
    await r.client.close();
    await sending.close();
  }
}

Deno.test({
  name:
    `history across processes (${LAYER}): a client cut 5 s during 10,000 messages at 1,000/s gets all of them, in order, once`,
  ignore: !!skip,
  fn: async () => {
    const { outcome } = await cutScenario({
      count: 10_000,
      perSecond: 1000,
      cutAfter: 2000,
      cutMs: 5000,
    });
    assert.ok(outcome.replayed! >= 3000, `replayed ${outcome.replayed}`);
  },
});

Deno.test({
  name: `history across processes (${LAYER}): a client cut 60 s (HISTORY_LONG_CUT=1)`,
  ignore: !!skip || Deno.env.get("HISTORY_LONG_CUT") !== "1",
  fn: async () => {
    await cutScenario({ count: 10_000, perSecond: 150, cutAfter: 500, cutMs: 60_000 });
  },
});

Deno.test({
  name:
    `history across processes (${LAYER}): the process a client was on is SIGKILLed; it recovers on the other`,
  ignore: !!skip,
  fn: async () => {
    await cutScenario({ count: 3000, perSecond: 1000, cutAfter: 1000, cutMs: 0, kill: true });
  },
});

Deno.test({
  name:
    `history across processes (${LAYER}): a client that had received nothing before the cut recovers`,
  ignore: !!skip,
  fn: async () => {
    await using s = await setup();
    const r = receiver(`${s.via}/ws/chat`);
    try {
      await r.started;
      await cutOff(r.client, s.proxy);
      const sending = burst(`${s.b.url}/ws/sender`, 2000, 2000);
      await sending.done;
      await sending.close();
      const back = recovery(r);
      s.proxy.heal();
      const outcome = await back;
      assert.equal(outcome.recovered, true);
      assert.equal(outcome.replayed, 2000);
      assertAll(r.got, 2000);
    } finally {
      await r.client.close();
    }
  },
});

Deno.test({
  name:
    `history across processes (${LAYER}): past the history, and after FLUSHALL, recovered: false with the reason within 1 s`,
  ignore: !!skip,
  fn: async () => {
    await using s = await setup();
    await using chatProxy = await proxyTo(s.a.port);
    const small = receiver(`${s.via}/ws/small`);
    const chat = receiver(`ws://127.0.0.1:${chatProxy.port}/ws/chat`);
    try {
      await small.started;
      await chat.started;
      const first = burst(`${s.b.url}/ws/sender`, 10, 1000);
      await first.done;
      await first.close();
      await until(chat, () => chat.got.length === 10, 5000, "first messages");
      // Past the history: 500 messages while away, the history keeps 100.
      await cutOff(small.client, s.proxy);
      const sending = burst(`${s.b.url}/ws/small-sender`, 500, 5000);
      await sending.done;
      await sending.close();
      const smallBack = recovery(small);
      let healed = Date.now();
      s.proxy.heal();
      const trimmed = await smallBack;
      const tookTrimmed = Date.now() - healed;
      assert.equal(trimmed.recovered, false);
      assert.equal(trimmed.reason, "trimmed");
      assert.equal(trimmed.position.offset, 500);
      assert.ok(tookTrimmed < 1000, `trimmed told after ${tookTrimmed} ms`);
      // FLUSHALL while away: the history is gone, a new epoch.
      await cutOff(chat.client, chatProxy);
      await s.redis.flush();
      const chatBack = recovery(chat);
      healed = Date.now();
      chatProxy.heal();
      const flushed = await chatBack;
      const tookFlushed = Date.now() - healed;
      assert.equal(flushed.recovered, false);
      assert.equal(flushed.reason, "epoch_changed");
      assert.ok(tookFlushed < 1000, `epoch_changed told after ${tookFlushed} ms`);
      console.log(`told: trimmed after ${tookTrimmed} ms, epoch_changed after ${tookFlushed} ms`);
    } finally {
      await small.client.close();
      await chat.client.close();
    }
  },
});
