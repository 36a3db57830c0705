/**
 * The `receiveNow` cases of the layer conformance suite (issue 20): the push-based receive a
 * connection's receive loop uses when a layer has it (src/connection/receive_pump.ts). A layer
 * without `receiveNow` passes them trivially (the method is optional).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  ChannelFull,
  type ChannelLayer,
  ClosedError,
  InvalidNameError,
  type LayerMessage,
  type ReceiveSink,
} from "../../src/layers/kit.ts";
import { memoryLogger, setLogger } from "../../src/logger.ts";
import { Stop, StopOptions } from "../../src/abort.ts";
import {
  dropCounter,
  type LayerCapabilities,
  receiveNothing,
  receiveWithin,
} from "./conformance.ts";
import type { TestFn } from "./conformance_faults.ts";

/** A Stop that counts how often its AbortSignal was asked for. */
class CountingStop extends Stop {
  signalReads = 0;
  override get signal(): AbortSignal {
    this.signalReads++;
    return super.signal;
  }
}

/** A sink that records what it is told and lets a test await it. */
class RecordingSink implements ReceiveSink {
  readonly messages: LayerMessage[] = [];
  readonly reasons: unknown[] = [];
  #waiters: Array<{ count: number; wake: () => void }> = [];

  /** How many times the layer settled it. */
  get calls(): number {
    return this.messages.length + this.reasons.length;
  }

  resolve(message: LayerMessage): void {
    this.messages.push(message);
    this.#tell();
  }

  reject(reason: unknown): void {
    this.reasons.push(reason);
    this.#tell();
  }

  #tell(): void {
    for (const w of [...this.#waiters]) {
      if (this.calls >= w.count) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.wake();
      }
    }
  }

  /** Resolves once the sink was settled `count` times in all (fails after `ms`). */
  settled(count = 1, ms = 3000): Promise<void> {
    if (this.calls >= count) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout>;
    return Promise.race([
      new Promise<void>((wake) => this.#waiters.push({ count, wake })),
      new Promise<void>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the sink was settled ${this.calls} times, not ${count}`)),
          ms,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }
}

type NowLayer = ChannelLayer & Required<Pick<ChannelLayer, "receiveNow">>;

function hasReceiveNow(layer: ChannelLayer): layer is NowLayer {
  return typeof layer.receiveNow === "function";
}

/**
 * The next message on `channel` through `receiveNow`: taken at once when one waits, else through
 * a parked sink (failing after `ms`). `sync` tells which.
 */
async function takeNow(
  layer: NowLayer,
  channel: string,
  ms = 3000,
): Promise<{ message: LayerMessage; sync: boolean }> {
  const sink = new RecordingSink();
  const controller = new AbortController();
  const now = layer.receiveNow(channel, sink, { signal: controller.signal });
  assert.notEqual(now, null, `receiveNow answered null on the open channel ${channel}`);
  if (now) {
    assert.equal(sink.calls, 0);
    return { message: now, sync: true };
  }
  const timer = setTimeout(() => controller.abort(new Error(`nothing within ${ms} ms`)), ms);
  try {
    await sink.settled(1, ms + 1000);
  } finally {
    clearTimeout(timer);
  }
  if (sink.reasons.length) throw sink.reasons[0];
  return { message: sink.messages[0], sync: false };
}

/** Registers the `receiveNow` cases. */
export function receiveNowCases(test: TestFn, caps: LayerCapabilities): void {
  test("receiveNow takes a waiting message synchronously, without the sink", async (h) => {
    const drops = dropCounter();
    const layer = await h.make({ capacity: 1, onDrop: drops.onDrop });
    if (!hasReceiveNow(layer)) return;
    const channel = await layer.newChannel();
    await layer.send(channel, { type: "m", i: 0 });
    // The channel is full once the first message waits in its mailbox: the second is refused
    // (or dropped on arrival, counted), so the first is surely there.
    if (caps.localCapacity === "throws") {
      await assert.rejects(async () => await layer.send(channel, { type: "m", i: 1 }), ChannelFull);
    } else {
      await layer.send(channel, { type: "m", i: 1 });
      await drops.reached(1);
    }
    const sink = new RecordingSink();
    assert.deepEqual(layer.receiveNow(channel, sink), { type: "m", i: 0 });
    assert.equal(layer.receiveNow(channel, sink), undefined, "nothing more waits: parked");
    assert.equal(sink.calls, 0);
    await layer.send(channel, { type: "m", i: 2 });
    await sink.settled(1);
    assert.deepEqual(sink.messages, [{ type: "m", i: 2 }]);
  });

  test("a parked sink is resolved once; later messages wait for the next receive", async (h) => {
    const layer = await h.make();
    if (!hasReceiveNow(layer)) return;
    const channel = await layer.newChannel();
    const first = new RecordingSink();
    const second = new RecordingSink();
    assert.equal(layer.receiveNow(channel, first), undefined);
    assert.equal(layer.receiveNow(channel, second), undefined);
    for (let i = 0; i < 4; i++) await layer.send(channel, { type: "m", i });
    await first.settled(1);
    await second.settled(1);
    assert.deepEqual([first.messages, second.messages], [[{ type: "m", i: 0 }], [{
      type: "m",
      i: 1,
    }]]);
    assert.equal((await receiveWithin(layer, channel)).i, 2);
    assert.equal((await receiveWithin(layer, channel)).i, 3);
    await receiveNothing(layer, channel, 50);
    assert.deepEqual([first.calls, second.calls], [1, 1], "settled exactly once each");
  });

  test("aborting a parked sink rejects it with the reason and loses nothing", async (h) => {
    const layer = await h.make();
    if (!hasReceiveNow(layer)) return;
    const channel = await layer.newChannel();
    const controller = new AbortController();
    const sink = new RecordingSink();
    assert.equal(layer.receiveNow(channel, sink, { signal: controller.signal }), undefined);
    const reason = new Error("stop");
    controller.abort(reason);
    await sink.settled(1);
    assert.deepEqual([sink.messages, sink.reasons], [[], [reason]]);
    // Already aborted: the layer leaves it to `receive`, which rejects with the reason.
    assert.equal(layer.receiveNow(channel, sink, { signal: controller.signal }), null);
    await assert.rejects(layer.receive(channel, { signal: controller.signal }), /stop/);
    await layer.send(channel, { type: "after" });
    assert.deepEqual(await receiveWithin(layer, channel), { type: "after" });
    assert.equal(sink.calls, 1);
  });

  test("a parked sink aborted with a ClosedError (a closed connection) is rejected", async (h) => {
    const layer = await h.make();
    if (!hasReceiveNow(layer)) return;
    const channel = await layer.newChannel();
    const controller = new AbortController();
    const sink = new RecordingSink();
    assert.equal(layer.receiveNow(channel, sink, { signal: controller.signal }), undefined);
    const reason = new ClosedError("connection closed");
    controller.abort(reason);
    await sink.settled(1);
    assert.deepEqual([sink.messages, sink.reasons], [[], [reason]]);
    assert.equal(layer.receiveNow(channel, sink, { signal: controller.signal }), null);
    await assert.rejects(layer.receive(channel, { signal: controller.signal }), ClosedError);
    assert.equal(sink.calls, 1);
  });

  test("a connection's Stop ends a parked sink and a receive, and no AbortSignal is made", async (h) => {
    const layer = await h.make();
    if (!hasReceiveNow(layer)) return;
    const channel = await layer.newChannel();
    const stop = new CountingStop();
    const options = new StopOptions(stop);
    const sink = new RecordingSink();
    assert.equal(layer.receiveNow(channel, sink, options), undefined);
    await layer.send(channel, { type: "one" });
    await sink.settled(1);
    assert.equal(layer.receiveNow(channel, sink, options), undefined);
    const reason = new ClosedError("connection closed");
    stop.abort(reason);
    await sink.settled(2);
    assert.deepEqual([sink.messages, sink.reasons], [[{ type: "one" }], [reason]]);
    assert.equal(layer.receiveNow(channel, sink, options), null);
    await assert.rejects(layer.receive(channel, options), ClosedError);
    assert.equal(
      stop.signalReads,
      0,
      "the layer read options.signal (an idle connection keeps it)",
    );
  });

  test("closing the layer rejects a parked sink with ClosedError", async (h) => {
    const layer = await h.make();
    if (!hasReceiveNow(layer)) return;
    const channel = await layer.newChannel();
    const sink = new RecordingSink();
    assert.equal(layer.receiveNow(channel, sink), undefined);
    await layer.close();
    await sink.settled(1);
    assert.equal(sink.messages.length, 0);
    assert.ok(sink.reasons[0] instanceof ClosedError, String(sink.reasons[0]));
    const later = new RecordingSink();
    assert.equal(layer.receiveNow(channel, later), null, "closed: left to receive");
    await assert.rejects(layer.receive(channel), ClosedError);
    assert.deepEqual([sink.calls, later.calls], [1, 0]);
  });

  test("receiveNow leaves a bad name to receive, which rejects", async (h) => {
    const layer = await h.make();
    if (!hasReceiveNow(layer)) return;
    const sink = new RecordingSink();
    for (const bad of ["a b", "!abc", "x".repeat(100)]) {
      assert.equal(layer.receiveNow(bad, sink), null, bad);
      await assert.rejects(layer.receive(bad), InvalidNameError, bad);
    }
    assert.equal(sink.calls, 0);
  });

  test("mixing receive and receiveNow keeps the order, while messages arrive", async (h) => {
    const layer = await h.make();
    if (!hasReceiveNow(layer)) return;
    const channel = await layer.newChannel();
    const total = 60;
    for (let i = 0; i < 10; i++) await layer.send(channel, { type: "m", i });
    const sending = (async () => {
      for (let i = 10; i < total; i++) await layer.send(channel, { type: "m", i });
    })();
    const got: number[] = [];
    let parked = 0;
    while (got.length < total) {
      if (got.length % 3 === 2) {
        got.push((await receiveWithin(layer, channel)).i as number);
        continue;
      }
      const { message, sync } = await takeNow(layer, channel);
      if (!sync) parked++;
      got.push(message.i as number);
    }
    await sending;
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => i));
    await receiveNothing(layer, channel, 50);
    // The first ten waited: at least the first receiveNow took one synchronously.
    assert.ok(parked < got.length, `parked ${parked} times`);
  });

  test("a sink that throws harms neither the sender nor the next receiver", async (h) => {
    const layer = await h.make();
    if (!hasReceiveNow(layer)) return;
    const channel = await layer.newChannel();
    const logger = memoryLogger();
    const previous = setLogger(logger);
    try {
      let calls = 0;
      const throwing: ReceiveSink = {
        resolve() {
          calls++;
          throw new Error("sink failure");
        },
        reject() {
          calls++;
        },
      };
      assert.equal(layer.receiveNow(channel, throwing), undefined);
      await layer.send(channel, { type: "first" });
      await layer.send(channel, { type: "second" });
      assert.deepEqual(await receiveWithin(layer, channel), { type: "second" });
      assert.equal(calls, 1);
      assert.ok(logger.lines.some((l) => l.level === "error"), "the throw is logged");
    } finally {
      setLogger(previous);
    }
  });
}
