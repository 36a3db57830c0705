/**
 * The push-based receive loop of a connection (src/connection/receive_pump.ts): what it takes at
 * once and what is pushed into it, backpressure, and that it always ends (an abort while parked
 * or while the queue is full, a closed layer, a failing receive, a layer that answers `null`).
 */
import assert from "node:assert/strict";
import { InMemoryChannelLayer } from "../../adapters/memory/mod.ts";
import { type PumpTarget, ReceivePump } from "../../src/connection/receive_pump.ts";
import { ClosedError } from "../../src/errors.ts";
import { Stop } from "../../src/abort.ts";
import { EVENT_TYPE, GROUP_TYPE, TOPIC_TYPE } from "../../src/layers/messages.ts";
import type {
  ChannelLayer,
  LayerMessage,
  ReceiveOptions,
  ReceiveSink,
} from "../../src/layers/layer.ts";

type NowLayer = ChannelLayer & Required<Pick<ChannelLayer, "receiveNow">>;

/** Resolves with `promise`, failing after `ms` (a hang becomes a failure). */
async function within<T>(promise: Promise<T>, what: string, ms = 2000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A target that records what it gets; `gate(i)` makes the i-th message hold the pump; `done`
 * settles when the pump ends (`ends` counts how often it was told: once).
 */
function recorder(gate?: (i: number) => Promise<void> | undefined) {
  const got: LayerMessage[] = [];
  const failures: unknown[] = [];
  const state = { ends: 0 };
  let end!: () => void;
  const done = new Promise<void>((resolve) => end = resolve);
  const target: PumpTarget = {
    received(message) {
      got.push(message);
      return gate?.(got.length - 1);
    },
    receiveFailed(error) {
      failures.push(error);
      state.ends++;
      end();
    },
    receiveEnded() {
      state.ends++;
      end();
    },
  };
  return { got, failures, target, done, state };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}

/** Wraps a memory layer, overriding `receiveNow` (and counting its calls). */
function wrap(
  inner: InMemoryChannelLayer,
  receiveNow: (
    channel: string,
    sink: ReceiveSink,
    options?: ReceiveOptions,
  ) => LayerMessage | undefined | null,
  receive: ChannelLayer["receive"] = (c, o) => inner.receive(c, o),
): NowLayer & { calls: number } {
  const layer = {
    calls: 0,
    extensions: inner.extensions,
    newChannel: (p?: string) => inner.newChannel(p),
    send: (c: string, m: LayerMessage) => inner.send(c, m),
    receive,
    receiveNow(c: string, s: ReceiveSink, o?: ReceiveOptions) {
      layer.calls++;
      return receiveNow(c, s, o);
    },
    groupAdd: (g: string, c: string) => inner.groupAdd(g, c),
    groupDiscard: (g: string, c: string) => inner.groupDiscard(g, c),
    groupSend: (g: string, m: LayerMessage) => inner.groupSend(g, m),
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
  return layer;
}

Deno.test("receive pump: waiting messages are taken at once, later ones pushed in, in order", async () => {
  const layer = new InMemoryChannelLayer();
  const channel = await layer.newChannel();
  for (let i = 0; i < 3; i++) await layer.send(channel, { type: "m", i });
  const { got, failures, target, done, state } = recorder();
  const controller = new Stop();
  new ReceivePump(layer, channel, controller, target);
  assert.deepEqual(got.map((m) => m.i), [0, 1, 2], "taken in the constructor");
  await layer.send(channel, { type: "m", i: 3 });
  assert.deepEqual(got.map((m) => m.i), [0, 1, 2, 3], "handled by the send that brought it");
  const closed = new ClosedError("connection closed");
  controller.abort(closed);
  await within(done, "done after the abort");
  assert.equal(state.ends, 1, "told once");
  // The parked sink is rejected with the reason; the layer loop's target ignores an abort.
  assert.deepEqual(failures, [closed]);
  assert.equal(layer.channelCount, 0, "a ClosedError abort releases the channel");
  await layer.close();
});

Deno.test("receive pump: past the gate it stops taking until the handling settles", async () => {
  const layer = new InMemoryChannelLayer();
  const channel = await layer.newChannel();
  for (let i = 0; i < 5; i++) await layer.send(channel, { type: "m", i });
  const held = deferred();
  const { got, target, done, state } = recorder((i) => i === 1 ? held.promise : undefined);
  const controller = new Stop();
  new ReceivePump(layer, channel, controller, target);
  assert.deepEqual(got.map((m) => m.i), [0, 1], "stopped at the full queue");
  await layer.send(channel, { type: "m", i: 5 });
  assert.equal(got.length, 2, "nothing pushed while the queue is full");
  held.resolve();
  await held.promise;
  await Promise.resolve(); // the pump goes on in the reaction to the gate
  assert.deepEqual(got.map((m) => m.i), [0, 1, 2, 3, 4, 5]);
  controller.abort(new ClosedError("connection closed"));
  await within(done, "done after the abort");
  assert.equal(state.ends, 1, "told once");
  await layer.close();
});

Deno.test("receive pump: an abort while the queue is full ends it once the handling settles", async () => {
  const layer = new InMemoryChannelLayer();
  const channel = await layer.newChannel();
  await layer.send(channel, { type: "m", i: 0 });
  const held = deferred();
  const { got, failures, target, done, state } = recorder(() => held.promise);
  const controller = new Stop();
  new ReceivePump(layer, channel, controller, target);
  let ended = false;
  void done.then(() => ended = true);
  controller.abort(new ClosedError("connection closed"));
  await layer.send(channel, { type: "m", i: 1 });
  await Promise.resolve();
  assert.equal(ended, false, "the message being handled is waited for, as by the awaiting loop");
  held.resolve();
  await within(done, "done once the handling settled");
  assert.equal(state.ends, 1, "told once");
  assert.deepEqual(got.map((m) => m.i), [0]);
  assert.deepEqual(failures, []);
  await layer.close();
});

Deno.test("receive pump: an abort while parked, or the layer closing, ends it at once", async () => {
  const layer = new InMemoryChannelLayer();
  const channel = await layer.newChannel();
  const { failures, target, done, state } = recorder();
  const controller = new Stop();
  new ReceivePump(layer, channel, controller, target);
  const reason = new Error("plain abort");
  controller.abort(reason);
  await within(done, "done after an abort while parked");
  assert.equal(state.ends, 1, "told once");
  assert.deepEqual(failures, [reason]);

  const other = await layer.newChannel();
  const second = recorder();
  new ReceivePump(layer, other, new Stop(), second.target);
  await layer.close();
  await within(second.done, "done after the layer closed");
  assert.equal(second.failures.length, 1);
  assert.ok(second.failures[0] instanceof ClosedError);
});

Deno.test("receive pump: a layer that answers null is awaited with receive, never spun on", async () => {
  const inner = new InMemoryChannelLayer();
  const layer = wrap(inner, () => null);
  const channel = await layer.newChannel();
  const { got, target, done, state } = recorder();
  const controller = new Stop();
  new ReceivePump(layer, channel, controller, target);
  assert.equal(layer.calls, 1, "one receiveNow, then a receive");
  for (let i = 0; i < 3; i++) await layer.send(channel, { type: "m", i });
  await within(
    (async () => {
      while (got.length < 3) await new Promise<void>((r) => queueMicrotask(r));
    })(),
    "three messages through receive",
  );
  assert.deepEqual(got.map((m) => m.i), [0, 1, 2]);
  assert.ok(layer.calls <= 4, `receiveNow called ${layer.calls} times for 3 messages`);
  controller.abort(new ClosedError("connection closed"));
  await within(done, "done after the abort");
  assert.equal(state.ends, 1, "told once");
  await inner.close();
});

Deno.test("receive pump: a sink settled before receiveNow returned is handled once", async () => {
  const inner = new InMemoryChannelLayer();
  let first = true;
  const layer = wrap(inner, (channel, sink, options) => {
    if (first) {
      // A layer that parks the sink and delivers into it from inside the call (a reader woken
      // by the demand): `undefined`, but the sink is already settled.
      first = false;
      sink.resolve({ type: "early" });
      return undefined;
    }
    return inner.receiveNow(channel, sink, options);
  });
  const channel = await layer.newChannel();
  const { got, target, done, state } = recorder();
  const controller = new Stop();
  new ReceivePump(layer, channel, controller, target);
  assert.deepEqual(got, [{ type: "early" }]);
  await layer.send(channel, { type: "next" });
  await layer.send(channel, { type: "last" });
  assert.deepEqual(got.map((m) => m.type), ["early", "next", "last"]);
  controller.abort(new ClosedError("connection closed"));
  await within(done, "done after the abort");
  assert.equal(state.ends, 1, "told once");
  await inner.close();
});

Deno.test("receive pump: a failing receive tells the target once and ends", async () => {
  const inner = new InMemoryChannelLayer();
  const failure = new Error("backend gone");
  const layer = wrap(inner, () => null, () => Promise.reject(failure));
  const channel = await layer.newChannel();
  const { failures, target, done, state } = recorder();
  new ReceivePump(layer, channel, new Stop(), target);
  await within(done, "done after the failure");
  assert.equal(state.ends, 1, "told once");
  assert.deepEqual(failures, [failure]);
  await inner.close();
});

Deno.test("receive pump: a pushed group relay is handled inside the send, an event a microtask later", async () => {
  const layer = new InMemoryChannelLayer();
  const channel = await layer.newChannel();
  const { got, target, done } = recorder();
  const controller = new Stop();
  new ReceivePump(layer, channel, controller, target);
  // The memory layer delivers inside the send call, before its promise is made.
  const relay = layer.send(channel, { type: GROUP_TYPE, i: 0 });
  assert.deepEqual(got.map((m) => m.i), [0], "a relay (no user code) is written at once");
  await relay;
  const event = layer.send(channel, { type: EVENT_TYPE, i: 1 });
  const topic = layer.send(channel, { type: TOPIC_TYPE, i: 2 });
  assert.deepEqual(
    got.map((m) => m.i),
    [0],
    "no consumer handler runs inside the sender's call (no re-entry)",
  );
  await Promise.all([event, topic]);
  assert.deepEqual(got.map((m) => m.i), [0, 1, 2], "then handled, in order");
  controller.abort(new ClosedError("connection closed"));
  await within(done, "done after the abort");
  await layer.close();
});
