/**
 * The history section of the conformance suite (src/layers/history.ts): every layer that lists
 * `"history"` passes it. Run from the per-layer runner files (memory_test.ts,
 * redis_conformance_test.ts) with {@linkcode historyConformanceSuite}.
 */
import assert from "node:assert/strict";
import {
  type ChannelLayer,
  InvalidNameError,
  type LayerMessage,
  randomToken,
  RESYNC_MESSAGE_TYPE,
} from "../../src/layers/kit.ts";
import {
  HISTORY_KEY,
  type HistoryLayer,
  type HistoryOptions,
  supportsHistory,
} from "../../src/layers/history.ts";
import type { LayerHarness } from "./conformance.ts";
import { receiveWithin } from "./conformance.ts";

/** What the history cases need to know of a layer. */
export interface HistoryCapabilities {
  /** Instances made by one harness share histories (two processes on one backend). */
  sharedState: boolean;
  /**
   * Loses every history the way the backend can (memory: `flush()`; Redis: a restart without its
   * data), when the harness can.
   */
  lose?: (h: LayerHarness, layer: ChannelLayer, group: string) => Promise<void>;
  /** Why the section is skipped, if it is. */
  skip?: string;
}

const OPTIONS: HistoryOptions = { size: 100, ttlMs: 60_000 };

function historyLayer(layer: ChannelLayer): HistoryLayer {
  assert.ok(supportsHistory(layer), "the layer lists 'history' and has its methods");
  return layer;
}

/** The next message on `channel` that is not a resync notice. */
async function next(layer: ChannelLayer, channel: string): Promise<LayerMessage> {
  for (;;) {
    const message = await receiveWithin(layer, channel, 5000);
    if (message.type !== RESYNC_MESSAGE_TYPE) return message;
  }
}

/** Registers the history conformance tests of one layer. */
export function historyConformanceSuite(
  name: string,
  setup: () => Promise<LayerHarness>,
  caps: HistoryCapabilities,
): void {
  const test = (title: string, fn: (h: LayerHarness) => Promise<void>, applies = true) => {
    Deno.test({
      name: `${name}: history: ${title}`,
      ignore: !!caps.skip || !applies,
      fn: async () => {
        const h = await setup();
        try {
          await fn(h);
        } finally {
          await h.dispose();
        }
      },
    });
  };
  const group = () => `hist-${randomToken(8)}`;

  test("appendAndSend stamps each delivered message with offsets 1, 2, 3 in one epoch", async (h) => {
    const layer = historyLayer(await h.make());
    const g = group();
    const channel = await layer.newChannel();
    await layer.groupAdd(g, channel);
    const positions = [];
    for (let i = 1; i <= 3; i++) {
      positions.push(await layer.appendAndSend(g, { type: "chat", n: i }, OPTIONS));
    }
    assert.deepEqual(positions.map((p) => p.offset), [1, 2, 3]);
    assert.equal(new Set(positions.map((p) => p.epoch)).size, 1);
    const epoch = positions[0].epoch;
    assert.ok(epoch.length > 0 && epoch.length <= 64);
    for (let i = 1; i <= 3; i++) {
      assert.deepEqual(await next(layer, channel), {
        type: "chat",
        n: i,
        [HISTORY_KEY]: { group: g, offset: i, epoch },
      });
    }
  });

  test("readSince returns exactly what followed, oldest first, without the stamp", async (h) => {
    const layer = historyLayer(await h.make());
    const g = group();
    const start = await layer.readSince(g, undefined, OPTIONS);
    assert.ok(start.recovered);
    assert.deepEqual(start.messages, []);
    assert.equal(start.position.offset, 0);
    for (let i = 1; i <= 5; i++) await layer.appendAndSend(g, { type: "m", n: i }, OPTIONS);
    const read = await layer.readSince(g, { offset: 2, epoch: start.position.epoch }, OPTIONS);
    assert.ok(read.recovered);
    assert.deepEqual(read.messages, [
      { offset: 3, message: { type: "m", n: 3 } },
      { offset: 4, message: { type: "m", n: 4 } },
      { offset: 5, message: { type: "m", n: 5 } },
    ]);
    assert.deepEqual(read.position, { offset: 5, epoch: start.position.epoch });
    const none = await layer.readSince(g, read.position, OPTIONS);
    assert.ok(none.recovered);
    assert.deepEqual(none.messages, []);
    assert.deepEqual((await layer.readSince(g, undefined, OPTIONS)).position, read.position);
  });

  test("a position of another epoch is not recovered: epoch_changed, with the current position", async (h) => {
    const layer = historyLayer(await h.make());
    const g = group();
    const first = await layer.appendAndSend(g, { type: "m" }, OPTIONS);
    const read = await layer.readSince(g, { offset: 0, epoch: "another" }, OPTIONS);
    assert.deepEqual(read, { recovered: false, reason: "epoch_changed", position: first });
  });

  test("a position past the newest message is position_ahead", async (h) => {
    const layer = historyLayer(await h.make());
    const g = group();
    const first = await layer.appendAndSend(g, { type: "m" }, OPTIONS);
    const read = await layer.readSince(g, { offset: 7, epoch: first.epoch }, OPTIONS);
    assert.deepEqual(read, { recovered: false, reason: "position_ahead", position: first });
  });

  test("the history keeps `size` messages: older positions are trimmed", async (h) => {
    const layer = historyLayer(await h.make());
    const g = group();
    const small = { size: 5, ttlMs: 60_000 };
    let last;
    for (let i = 1; i <= 12; i++) last = await layer.appendAndSend(g, { type: "m", n: i }, small);
    const epoch = last!.epoch;
    const lost = await layer.readSince(g, { offset: 1, epoch }, small);
    assert.deepEqual(lost, { recovered: false, reason: "trimmed", position: last });
    const kept = await layer.readSince(g, { offset: 7, epoch }, small);
    assert.ok(kept.recovered);
    assert.deepEqual(kept.messages.map((m) => m.offset), [8, 9, 10, 11, 12]);
  });

  test("the history keeps messages `ttlMs`: older ones are too_old", async (h) => {
    const layer = historyLayer(await h.make());
    const g = group();
    const short = { size: 100, ttlMs: 300 };
    const first = await layer.appendAndSend(g, { type: "m", n: 1 }, short);
    await layer.appendAndSend(g, { type: "m", n: 2 }, short);
    const fresh = await layer.readSince(g, { offset: 0, epoch: first.epoch }, short);
    assert.ok(fresh.recovered);
    assert.equal(fresh.messages.length, 2);
    await new Promise((r) => setTimeout(r, 700)); // the bound under test is time itself
    const stale = await layer.readSince(g, { offset: 0, epoch: first.epoch }, short);
    assert.equal(stale.recovered, false);
    assert.equal(stale.recovered === false && stale.reason, "too_old");
    // The offsets go on in the same epoch: a receiver that had everything still recovers.
    const top = await layer.readSince(g, { offset: 2, epoch: first.epoch }, short);
    assert.ok(top.recovered);
    assert.deepEqual(top.position, { offset: 2, epoch: first.epoch });
  });

  test("more missed than `limit` is too_many", async (h) => {
    const layer = historyLayer(await h.make());
    const g = group();
    let last;
    for (let i = 1; i <= 4; i++) last = await layer.appendAndSend(g, { type: "m" }, OPTIONS);
    const read = await layer.readSince(g, { offset: 0, epoch: last!.epoch }, {
      ...OPTIONS,
      limit: 3,
    });
    assert.deepEqual(read, { recovered: false, reason: "too_many", position: last });
  });

  test("bad names reject with InvalidNameError, bad options with TypeError", async (h) => {
    const layer = historyLayer(await h.make());
    await assert.rejects(layer.appendAndSend("a b", { type: "m" }, OPTIONS), InvalidNameError);
    await assert.rejects(layer.readSince("a b", undefined, OPTIONS), InvalidNameError);
    await assert.rejects(layer.appendAndSend("g", { type: "m" }, { size: 0, ttlMs: 1 }), TypeError);
    await assert.rejects(layer.appendAndSend("g", { type: "m" }, { size: 1, ttlMs: 0 }), TypeError);
    await assert.rejects(layer.appendAndSend("g", { type: 5 } as never, OPTIONS), TypeError);
  });

  test("two instances share one history: offsets keep growing, each read sees all", async (h) => {
    const a = historyLayer(await h.make());
    const b = historyLayer(await h.make());
    const g = group();
    const channelA = await a.newChannel();
    const channelB = await b.newChannel();
    await a.groupAdd(g, channelA);
    await b.groupAdd(g, channelB);
    const sent = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => (i % 2 ? a : b).appendAndSend(g, { type: "m" }, OPTIONS),
      ),
    );
    assert.deepEqual(sent.map((p) => p.offset).sort((x, y) => x - y), range(1, 20));
    for (const [layer, channel] of [[a, channelA], [b, channelB]] as const) {
      const seen = [];
      for (let i = 0; i < 20; i++) {
        seen.push((await next(layer, channel))[HISTORY_KEY] as { offset: number });
      }
      assert.deepEqual(seen.map((s) => s.offset).sort((x, y) => x - y), range(1, 20));
    }
    const read = await b.readSince(g, { offset: 0, epoch: sent[0].epoch }, OPTIONS);
    assert.ok(read.recovered);
    assert.deepEqual(read.messages.map((m) => m.offset), range(1, 20));
  }, caps.sharedState);

  test("a lost history gets a new epoch: old positions are epoch_changed", async (h) => {
    const layer = historyLayer(await h.make());
    const g = group();
    const before = await layer.appendAndSend(g, { type: "m" }, OPTIONS);
    await caps.lose!(h, layer, g);
    const read = await layer.readSince(g, before, OPTIONS);
    assert.equal(read.recovered, false);
    assert.equal(read.recovered === false && read.reason, "epoch_changed");
    assert.notEqual(read.position.epoch, before.epoch);
    assert.equal(read.position.offset, 0);
    const after = await layer.appendAndSend(g, { type: "m" }, OPTIONS);
    assert.deepEqual(after, { offset: 1, epoch: read.position.epoch });
  }, caps.lose !== undefined);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
