/**
 * The fault cases of the layer conformance suite (issues 15 and 16): a backend that is never
 * reachable, paused (SIGSTOP), or whose connections drop in the middle of a (un)subscribe or one
 * at a time. They run for harnesses that provide {@linkcode LayerFaults} (the private Redis
 * servers). The restart case ("backend restarted without persistence") is in `conformance.ts`,
 * behind the `restartable` capability.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type ChannelLayer,
  type LayerMessage,
  LayerUnavailableError,
  RESYNC_MESSAGE_TYPE,
} from "../../src/layers/kit.ts";
import type { LayerCapabilities, LayerHarness, LayerTestOptions } from "./conformance.ts";

/** How a case file registers one test with the suite. */
export type TestFn = (
  title: string,
  fn: (h: LayerHarness) => Promise<void>,
  applies?: boolean,
) => void;

/**
 * Short timeouts, so that the bounded waits are short too. The connect timeout is 2.5 s, not 1 s:
 * a connection's handshake takes several round trips through the test process's event loop
 * (and its TCP proxies), and at loads of 14–16 on 2 cores every 1 s try to a live server failed
 * for 20 s in a row (tests/FLAKES.md).
 */
export const FAST: LayerTestOptions = {
  timeouts: { connectTimeoutMs: 2500, commandTimeoutMs: 500 },
};
/** What "within a bounded time" means here: the timeouts plus generous slack for a busy CI box. */
export const BOUND_MS = 5000;

/** Resolves or rejects as `promise` does, or rejects once `ms` passed (an unbounded wait). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts `call` rejects with LayerUnavailableError within {@linkcode BOUND_MS}. */
export async function unavailableWithin(
  call: () => Promise<unknown>,
  what: string,
): Promise<number> {
  const started = performance.now();
  const settled = call().then(
    () => assert.fail(`${what} succeeded although the backend is away`),
    (error) => error,
  );
  const error = await within(settled, BOUND_MS, what);
  assert.ok(error instanceof LayerUnavailableError, `${what}: ${error}`);
  const ms = performance.now() - started;
  console.log(`${what}: ${error.constructor.name} after ${Math.round(ms)} ms`);
  return ms;
}

/** The next message on `channel` that is not a resync notice. */
export async function receiveData(
  layer: ChannelLayer,
  channel: string,
  ms = 3000,
): Promise<LayerMessage> {
  const deadline = Date.now() + ms;
  while (true) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`nothing but resync notices on ${channel} within ${ms} ms`);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`nothing on ${channel}`)), left);
    try {
      const message = await layer.receive(channel, { signal: controller.signal });
      if (message.type !== RESYNC_MESSAGE_TYPE) return message;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Asserts no data message (resync notices aside) arrives on `channel` within `ms`. */
export async function noData(layer: ChannelLayer, channel: string, ms = 200): Promise<void> {
  const message = await receiveData(layer, channel, ms).catch(() => undefined);
  assert.equal(message, undefined, `unexpected ${JSON.stringify(message)} on ${channel}`);
}

/** Retries `call` (Redis coming back) until it succeeds, for at most `ms`. */
export async function eventually<T>(call: () => Promise<T>, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  let delay = 10;
  while (true) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof LayerUnavailableError) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, delay)); // waiting for a reconnect with backoff
      delay = Math.min(delay * 2, 200);
    }
  }
}

/**
 * Sends probes from `sender` until one reaches `channel` on `receiver` (a recovering backend
 * may lose the first ones), then drains the probes.
 */
export async function untilDelivered(
  sender: ChannelLayer,
  receiver: ChannelLayer,
  channel: string,
  send: (message: LayerMessage) => Promise<void> = (m) => sender.send(channel, m),
): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let i = 0;; i++) {
    await eventually(() => send({ type: "probe", i }));
    const got = await receiveData(receiver, channel, 300).catch(() => undefined);
    if (got?.type === "probe") break;
    if (Date.now() > deadline) throw new Error(`no probe reached ${channel}`);
  }
  while (await receiveData(receiver, channel, 100).catch(() => undefined));
}

/** Registers the fault cases with the suite's `test`. */
export function faultCases(test: TestFn, caps: LayerCapabilities): void {
  const faults = !!caps.faults;

  test(
    "a backend that is never reachable: calls fail with LayerUnavailableError, bounded",
    async (h) => {
      // Nothing listens there (connections are refused at once): a shorter connect timeout
      // than FAST's bounds each call sooner, which is what is checked.
      const layer = h.faults!.makeUnreachable({
        timeouts: { connectTimeoutMs: 300, commandTimeoutMs: 300 },
      });
      try {
        await unavailableWithin(() => layer.newChannel(), "newChannel");
        await unavailableWithin(() => layer.send("c", { type: "x" }), "send");
        await unavailableWithin(() => layer.groupAdd("g", "c"), "groupAdd");
        await unavailableWithin(() => layer.groupSend("g", { type: "x" }), "groupSend");
      } finally {
        // Closing waits for attempts still in flight (each bounded by the connect timeout).
        const started = performance.now();
        await within(layer.close(), 4 * BOUND_MS, "close");
        console.log(
          `close() of an unreachable layer: ${Math.round(performance.now() - started)} ms`,
        );
      }
    },
    faults,
  );

  test(
    "a paused backend (SIGSTOP): calls fail with LayerUnavailableError, bounded; then recover",
    async (h) => {
      const a = await h.make(FAST);
      const b = await h.make(FAST);
      const onB = await b.newChannel();
      await b.groupAdd("room", onB);
      await a.send(onB, { type: "before" });
      assert.deepEqual(await receiveData(b, onB), { type: "before" });
      h.faults!.pause();
      try {
        await unavailableWithin(() => a.send(onB, { type: "paused" }), "send");
        await unavailableWithin(() => a.groupSend("room", { type: "paused" }), "groupSend");
        await unavailableWithin(() => b.groupAdd("other", onB), "groupAdd");
      } finally {
        h.faults!.resume();
      }
      // A command that timed out may still have been carried out: drain, then check delivery.
      await untilDelivered(a, b, onB);
      await eventually(() => a.groupSend("room", { type: "after" }));
      assert.deepEqual(await receiveData(b, onB), { type: "after" });
    },
    faults,
  );

  test("host list order does not matter: [A, B] and [B, A] exchange every message", async (h) => {
    const a = await h.make();
    const b = await h.make({ reverseHosts: true });
    const onA: string[] = [];
    const onB: string[] = [];
    for (let i = 0; i < 20; i++) {
      onA.push(await a.newChannel(`p${i}`));
      onB.push(await b.newChannel(`p${i}`));
    }
    for (const [i, c] of onB.entries()) await a.send(c, { type: "direct", i });
    for (const [i, c] of onA.entries()) await b.send(c, { type: "direct", i });
    for (const [i, c] of onB.entries()) {
      assert.deepEqual(await receiveData(b, c), { type: "direct", i });
    }
    for (const [i, c] of onA.entries()) {
      assert.deepEqual(await receiveData(a, c), { type: "direct", i });
    }
    const groups = Array.from({ length: 20 }, (_, i) => `room${i}`);
    for (const [i, g] of groups.entries()) {
      await a.groupAdd(g, onA[i]);
      await b.groupAdd(g, onB[i]);
    }
    for (const g of groups) await a.groupSend(g, { type: "group", g });
    for (const g of groups) await b.groupSend(g, { type: "group", g });
    for (const [i, g] of groups.entries()) {
      const pairs: Array<[ChannelLayer, string]> = [[a, onA[i]], [b, onB[i]]];
      for (const [layer, c] of pairs) {
        assert.deepEqual(await receiveData(layer, c), { type: "group", g });
        assert.deepEqual(await receiveData(layer, c), { type: "group", g });
      }
    }
  }, faults);

  for (const phase of ["subscribe", "unsubscribe"] as const) {
    test(
      `connection dropped during ${phase}: no loss, no duplicate after re-joining`,
      async (h) => {
        const { layer, proxies } = await h.faults!.makeProxied(FAST);
        const sender = await h.make(FAST);
        const channel = await layer.newChannel();
        const other = await layer.newChannel();
        await layer.groupAdd("keep", other);
        if (phase === "unsubscribe") await layer.groupAdd("g", channel);
        for (const p of proxies) p.pause();
        const op = phase === "subscribe"
          ? layer.groupAdd("g", channel)
          : layer.groupDiscard("g", channel);
        const outcome = op.then(() => "ok", (e) => e);
        await Promise.race([...proxies.map((p) => p.waitForHeld()), outcome]);
        for (const p of proxies) {
          p.dropAll();
          p.resume();
        }
        const result = await within(outcome, BOUND_MS, phase);
        assert.ok(result === "ok" || result instanceof LayerUnavailableError, String(result));
        // Re-join (or join once more): the member gets every group message exactly once.
        await eventually(() => layer.groupAdd("g", channel));
        await untilDelivered(sender, layer, other, (m) => sender.groupSend("keep", m));
        await eventually(() => sender.groupSend("g", { type: "once" }));
        assert.deepEqual(await receiveData(layer, channel), { type: "once" });
        await noData(layer, channel);
        // Leaving works afterwards too.
        await eventually(() => layer.groupDiscard("g", channel));
        await eventually(() => sender.groupSend("g", { type: "gone" }));
        await noData(layer, channel);
      },
      faults,
    );
  }

  for (
    const [title, fault] of [
      ["the subscriber/reader connections drop alone", "pubsub"],
      ["the command connections drop alone", "normal"],
      ["all connections drop and come back together", "all"],
    ] as const
  ) {
    test(`${title}: direct and group delivery resume`, async (h) => {
      const { layer, proxies } = await h.faults!.makeProxied(FAST);
      const sender = await h.make(FAST);
      const channel = await layer.newChannel();
      await layer.groupAdd("g", channel);
      await sender.send(channel, { type: "before" });
      assert.deepEqual(await receiveData(layer, channel), { type: "before" });
      if (fault === "all") { for (const p of proxies) p.dropAll(); }
      else await h.faults!.killConnections(fault);
      await untilDelivered(sender, layer, channel);
      await untilDelivered(sender, layer, channel, (m) => sender.groupSend("g", m));
      // Messages from the recovered layer reach the sender's side too (its command connection).
      const back = await sender.newChannel();
      await untilDelivered(layer, sender, back);
      await noData(layer, channel, 50);
    }, faults);
  }
}
