/**
 * One conformance suite for every channel layer (memory, Redis pub/sub, Redis queue), after the
 * tests listed in channel-layers-and-jobs.md §6 and the failure modes of §3.9 / §4.3-4.4 / §6.7.
 *
 * A layer test file calls {@linkcode layerConformanceSuite} with a harness factory and the
 * layer's capabilities (the pattern of socket.io-redis-adapter's test runner).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { TcpProxy } from "../../testing/tcp_proxy.ts";
import { faultCases } from "./conformance_faults.ts";
import { reconnectCases } from "./conformance_reconnect.ts";
import { receiveNowCases } from "./conformance_receive_now.ts";
import {
  ChannelFull,
  type ChannelLayer,
  ClosedError,
  InvalidNameError,
  type LayerEvent,
  type LayerMessage,
  RESYNC_MESSAGE_TYPE,
} from "../../src/layers/kit.ts";
import { type FakeClock, fakeClock, skewClock } from "../../testing/clock.ts";

/** Options a test may ask a layer for. */
export interface LayerTestOptions {
  /** Default capacity. */
  capacity?: number;
  /** Per-channel capacity overrides. */
  channelCapacity?: Record<string, number>;
  /** Message expiry in seconds. */
  expiry?: number;
  /** Group membership expiry in seconds. */
  groupExpiry?: number;
  /** Told about every message dropped in the process (layers that drop instead of throwing). */
  onDrop?: (info: { channel: string; reason: string; count: number }) => void;
  /** Encryption keys, on layers that encrypt what they store (others ignore them). */
  encryptionKeys?: string[];
  /** Configure the backend hosts in the reverse order (layers with several hosts). */
  reverseHosts?: boolean;
  /** Connect and command timeouts in ms (layers with a remote backend). */
  timeouts?: { connectTimeoutMs?: number; commandTimeoutMs?: number };
}

/** Keys another component owns under the layer's prefix (a job queue, say), planted by a test. */
export interface ForeignKeys {
  /** How many keys were planted. */
  readonly planted: number;
  /** How many of them still exist. */
  count(): Promise<number>;
  /** Deletes them. */
  remove(): Promise<void>;
}

/**
 * Fault injection, for harnesses that own their backend servers: the fault cases of the suite
 * (`conformance_faults.ts`, `conformance_reconnect.ts`) run where a harness provides it.
 */
export interface LayerFaults {
  /** Restarts every backend server without its data; resolves once they answer again. */
  restart(): Promise<void>;
  /** Freezes every backend server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Continues the paused servers (SIGCONT). */
  resume(): void;
  /** Makes (does not connect) a layer whose backend address accepts no connection. */
  makeUnreachable(options?: LayerTestOptions): ChannelLayer;
  /** Makes a connected layer whose every connection goes through a TCP proxy per host. */
  makeProxied(options?: LayerTestOptions): Promise<{ layer: ChannelLayer; proxies: TcpProxy[] }>;
  /** Drops the layer's connections of one kind on every server (`CLIENT KILL TYPE ...`). */
  killConnections(type: "pubsub" | "normal"): Promise<void>;
  /**
   * Makes a connected layer whose connections of each role go through TCP proxies of their own
   * (one per host and role), so that each role can be dropped and brought back on its own:
   * `listener`, the connections it hears on (a subscriber, a blocking reader), and `commands`,
   * the ones it sends on.
   */
  makeSplit(options?: LayerTestOptions): Promise<SplitLayer>;
}

/** A layer from {@linkcode LayerFaults.makeSplit} and the proxies of its connection roles. */
export interface SplitLayer {
  /** The layer (connected). */
  layer: ChannelLayer;
  /** One proxy per host in front of the connections the layer hears on. */
  listener: TcpProxy[];
  /** One proxy per host in front of the connections the layer sends on. */
  commands: TcpProxy[];
}

/** What a test gets: a way to make layer instances that share one backend. */
export interface LayerHarness {
  /** Makes a layer instance ("a process"); the harness closes it in `dispose`. */
  make(options?: LayerTestOptions): Promise<ChannelLayer>;
  /** Makes sure `layer` hears the normal channel `channel` before anything is sent to it. */
  listen?(layer: ChannelLayer, channel: string): Promise<void>;
  /** Closes every layer it made and releases the backend (and checks nothing leaked). */
  dispose(): Promise<void>;
  /** Plants keys that belong to others under the layer's prefix (`<prefix>:jobs:...`, ...). */
  plantForeignKeys?(): Promise<ForeignKeys>;
  /** Fault injection (restart, pause, proxies...), when the harness owns its backend. */
  faults?: LayerFaults;
}

/** What a layer does, so that the suite runs the tests that apply. */
export interface LayerCapabilities {
  /** `send` to a full normal channel throws `ChannelFull`. */
  senderCapacity: boolean;
  /** A full process-local channel: `send` throws `ChannelFull`, or the receiving side drops. */
  localCapacity: "throws" | "drops";
  /** Honours `expiry`. */
  expiry: boolean;
  /**
   * A membership outlives the instance that added it by `groupExpiry` (and no longer): shared
   * state whose memberships the adding instance renews while it lives.
   */
  groupExpiry: boolean;
  /**
   * Messages wait in the backend until a receiver asks for them (so a test can keep the receiver
   * idle while a sender's clock is skewed).
   */
  storesUntilRead?: boolean;
  /**
   * The layer restores what it holds after `faults.restart()` (a backend restarted without
   * persistence) and signals a resync only once it can send again.
   */
  restartable?: boolean;
  /** The harness can plant other components' keys next to the layer's (`plantForeignKeys`). */
  foreignKeys?: boolean;
  /** Instances made by one harness share channels and groups (two processes on one backend). */
  sharedState: boolean;
  /** Why the whole suite is skipped, if it is. */
  skip?: string;
  /** The harness provides {@linkcode LayerFaults}: run the fault cases. */
  faults?: boolean;
  /**
   * The backend carries a 1 MB message (default true; false for a NATS server whose
   * `max_payload` is the default 1 MB, framing included).
   */
  megabyteMessages?: boolean;
  /**
   * The layer keeps time on the library's clock only (no server's TTLs): the tests whose subject
   * is time move a fake clock instead of waiting.
   */
  fakeClock?: boolean;
}

const NAME_CASES = ["¯\\_(ツ)_/¯", "chat".repeat(25), "=+135!", "", "a b", "a!b!c", "!abc"];

/** Waits for the next message, failing the test after `ms`. */
export async function receiveWithin(
  layer: ChannelLayer,
  channel: string,
  ms = 3000,
): Promise<LayerMessage> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`nothing received on ${channel} within ${ms} ms`)),
    ms,
  );
  try {
    return await layer.receive(channel, { signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that nothing arrives on `channel` within `ms`. */
export async function receiveNothing(layer: ChannelLayer, channel: string, ms = 150) {
  const controller = new AbortController();
  const reason = new Error("timeout");
  const timer = setTimeout(() => controller.abort(reason), ms);
  try {
    const message = await layer.receive(channel, { signal: controller.signal });
    assert.fail(`expected nothing on ${channel}, got ${JSON.stringify(message)}`);
  } catch (error) {
    if (error !== reason) throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (with a deadline) until `count` drops were reported to `onDrop`. */
export function dropCounter(): {
  onDrop: NonNullable<LayerTestOptions["onDrop"]>;
  reached(count: number, ms?: number): Promise<void>;
} {
  let total = 0;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  return {
    onDrop: ({ count }) => {
      total += count;
      for (const w of [...waiters]) {
        if (total >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
    reached(count, ms = 3000) {
      if (total >= count) return Promise.resolve();
      let timer: ReturnType<typeof setTimeout>;
      return Promise.race([
        new Promise<void>((resolve) => waiters.push({ count, resolve })),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`only ${total} of ${count} drops`)), ms);
        }),
      ]).finally(() => clearTimeout(timer));
    },
  };
}

/** Resolves with the next event of `type` the layer emits (fails after `ms`). */
export function nextEvent(
  layer: ChannelLayer,
  type: LayerEvent["type"],
  ms = 10_000,
): Promise<LayerEvent> {
  assert.ok(layer.onEvent, "the layer emits no events");
  let timer: ReturnType<typeof setTimeout>;
  let stop: () => void = () => {};
  return new Promise<LayerEvent>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${type} event within ${ms} ms`)), ms);
    stop = layer.onEvent!((event) => {
      if (event.type === type) resolve(event);
    });
  }).finally(() => {
    clearTimeout(timer);
    stop();
  });
}

/** The next message on `channel` that is not a resync notice. */
export async function receiveSkippingResync(
  layer: ChannelLayer,
  channel: string,
  ms = 3000,
): Promise<LayerMessage> {
  for (;;) {
    const message = await receiveWithin(layer, channel, ms);
    if (message.type !== RESYNC_MESSAGE_TYPE) return message;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A fake clock for a test whose subject is time, when the layer keeps time on the library's. */
function timeFor(caps: LayerCapabilities): FakeClock | undefined {
  return caps.fakeClock ? fakeClock() : undefined;
}

/** Lets `ms` pass: on the fake clock if there is one (in no time), else really. */
async function pass(time: FakeClock | undefined, ms: number): Promise<void> {
  if (time) await time.advance(ms);
  else await sleep(ms);
}

/**
 * Which cases a file registers: all of them (default), only the fault and reconnect cases, or
 * only the others — so that a slow layer's suite can be split over two files that
 * `deno test --parallel` runs side by side.
 */
export type SuitePart = "all" | "faults" | "core";

/**
 * One share of a part: every `count`-th case of it, from the `index`-th (0-based), so that a part
 * still too slow for one file is dealt over `count` files round-robin (slow and quick cases
 * alike).
 */
export interface SuiteSlice {
  /** This file's share, 0 to `count - 1`. */
  index: number;
  /** Number of files the part is dealt over. */
  count: number;
}

/** Registers the conformance tests of one layer (or one `part` of them, or a slice of that). */
export function layerConformanceSuite(
  name: string,
  setup: () => Promise<LayerHarness>,
  caps: LayerCapabilities,
  part: SuitePart = "all",
  slice: SuiteSlice = { index: 0, count: 1 },
): void {
  let registering: "faults" | "core" = "faults";
  let dealt = 0;
  const test = (
    title: string,
    fn: (h: LayerHarness) => Promise<void>,
    applies = true,
  ) => {
    if (part !== "all" && part !== registering) return;
    if (dealt++ % slice.count !== slice.index) return;
    Deno.test({
      name: `${name}: ${title}`,
      ignore: !!caps.skip || !applies,
      sanitizeOps: true,
      sanitizeResources: true,
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
  const listen = (h: LayerHarness, layer: ChannelLayer, channel: string) =>
    h.listen ? h.listen(layer, channel) : Promise.resolve();

  faultCases(test, caps);
  reconnectCases(test, caps);
  registering = "core";

  // ------------------------------------------------------------------ names (§6.1)

  test("invalid channel and group names are rejected with InvalidNameError", async (h) => {
    const layer = await h.make();
    for (const bad of NAME_CASES) {
      await assert.rejects(async () => await layer.send(bad, { type: "x" }), InvalidNameError, bad);
      await assert.rejects(async () => await layer.receive(bad), InvalidNameError, bad);
      await assert.rejects(async () => await layer.groupAdd("ok", bad), InvalidNameError, bad);
      await assert.rejects(async () => await layer.groupDiscard("ok", bad), InvalidNameError, bad);
    }
    for (const bad of [...NAME_CASES, "abc!"]) {
      await assert.rejects(async () => await layer.groupAdd(bad, "ok"), InvalidNameError, bad);
      await assert.rejects(
        async () => await layer.groupSend(bad, { type: "x" }),
        InvalidNameError,
        bad,
      );
    }
    await assert.rejects(
      async () => await layer.groupAdd("a".repeat(101), "ok"),
      /shorter than 100/,
    );
  });

  test("the longest legal name is 99 characters", async (h) => {
    const layer = await h.make();
    const channel = "c".repeat(99);
    await listen(h, layer, channel);
    await layer.send(channel, { type: "long" });
    assert.deepEqual(await receiveWithin(layer, channel), { type: "long" });
    await layer.groupAdd("g".repeat(99), channel);
    await assert.rejects(
      async () => await layer.send("c".repeat(100), { type: "x" }),
      InvalidNameError,
    );
  });

  test("a message must be an object with a string type", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    for (const bad of [null, "text", [], { kind: "x" }, { type: 3 }]) {
      await assert.rejects(
        async () => await layer.send(channel, bad as unknown as LayerMessage),
        TypeError,
      );
    }
    // (The memory layer only checks the message when the group has members.)
    await layer.groupAdd("g", channel);
    await assert.rejects(
      async () => await layer.groupSend("g", {} as unknown as LayerMessage),
      TypeError,
    );
    await receiveNothing(layer, channel, 50);
  });

  // ------------------------------------------------------------------ send / receive (§6.2)

  test("send and receive on a process-local channel", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    assert.match(channel, /^specific\..+!.+$/);
    const message = { type: "test.message", text: "Ahoy-hoy!", n: [1, 2.5, null, true] };
    await layer.send(channel, message);
    assert.deepEqual(await receiveWithin(layer, channel), message);
  });

  test("send and receive on a normal channel", async (h) => {
    const layer = await h.make();
    await listen(h, layer, "test-channel-1");
    await layer.send("test-channel-1", { type: "test.message", text: "Ahoy-hoy!" });
    assert.deepEqual(await receiveWithin(layer, "test-channel-1"), {
      type: "test.message",
      text: "Ahoy-hoy!",
    });
  });

  test("messages arrive in the order they were sent", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    for (let i = 0; i < 100; i++) await layer.send(channel, { type: "m", i });
    const got = [];
    for (let i = 0; i < 100; i++) got.push((await receiveWithin(layer, channel)).i);
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
  });

  test("concurrent sends from one sender keep their order", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    await Promise.all(Array.from({ length: 50 }, (_, i) => layer.send(channel, { type: "m", i })));
    const got = [];
    for (let i = 0; i < 50; i++) got.push((await receiveWithin(layer, channel)).i);
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i));
  });

  test("receive waits when nothing was sent; aborting rejects with the signal's reason", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    await receiveNothing(layer, channel, 200);
    const controller = new AbortController();
    controller.abort(new Error("already"));
    await assert.rejects(
      async () => await layer.receive(channel, { signal: controller.signal }),
      /already/,
    );
  });

  test("aborted receives never lose or reorder messages (§3.9-3, #151, #366)", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    const got: number[] = [];
    for (let i = 0; i < 40; i++) {
      const controller = new AbortController();
      const attempt = layer.receive(channel, { signal: controller.signal }).then(
        (m) => {
          got.push(m.i as number);
        },
        () => {},
      );
      // Abort at 0-4 ms while the message may be in flight.
      const timer = setTimeout(() => controller.abort(new Error("cancel")), i % 5);
      await layer.send(channel, { type: "m", i });
      await attempt;
      clearTimeout(timer);
    }
    while (got.length < 40) got.push((await receiveWithin(layer, channel)).i as number);
    assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i));
    await receiveNothing(layer, channel, 100);
  });

  test("cancelling one of two receivers leaves the other working", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    const controller = new AbortController();
    const first = layer.receive(channel, { signal: controller.signal });
    const second = receiveWithin(layer, channel);
    controller.abort(new Error("gone"));
    await assert.rejects(first, /gone/);
    await layer.send(channel, { type: "for.second" });
    assert.deepEqual(await second, { type: "for.second" });
  });

  test("newChannel names are unique and valid", async (h) => {
    const layer = await h.make();
    const names = new Set<string>();
    for (let i = 0; i < 200; i++) names.add(await layer.newChannel("room"));
    assert.equal(names.size, 200);
    for (const n of names) assert.match(n, /^room\.[a-zA-Z0-9\-_.]+![a-zA-Z0-9\-_.]+$/);
    const other = await h.make();
    const a = await layer.newChannel();
    const b = await other.newChannel();
    assert.notEqual(a.slice(0, a.indexOf("!")), b.slice(0, b.indexOf("!")));
  });

  test("a received message is a copy: mutating the sent object does not leak", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    const message = { type: "m", nested: { list: [1, 2] } };
    await layer.send(channel, message);
    message.nested.list.push(3);
    assert.deepEqual(await receiveWithin(layer, channel), { type: "m", nested: { list: [1, 2] } });
  });

  test("a 1 MB message round-trips", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    const big = { type: "big", data: "x".repeat(1024 * 1024) };
    await layer.send(channel, big);
    assert.equal(((await receiveWithin(layer, channel)).data as string).length, 1024 * 1024);
  }, caps.megabyteMessages !== false);

  // ------------------------------------------------------------------ capacity (§6.2, §3.5)

  test("send to a full normal channel throws ChannelFull", async (h) => {
    const layer = await h.make({ capacity: 3, channelCapacity: { "one": 1 } });
    for (let i = 0; i < 3; i++) await layer.send("test-channel-1", { type: "m", i });
    const error = await (async () => await layer.send("test-channel-1", { type: "m", i: 3 }))()
      .then(
        () => undefined,
        (e) => e,
      );
    assert.ok(error instanceof ChannelFull, String(error));
    assert.equal(error.channel, "test-channel-1");
    await layer.send("one", { type: "m" });
    await assert.rejects(async () => await layer.send("one", { type: "m" }), ChannelFull);
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await receiveWithin(layer, "test-channel-1")).i);
    assert.deepEqual(got, [0, 1, 2]);
  }, caps.senderCapacity);

  test("a full process-local channel refuses or drops the overflow, counted", async (h) => {
    const drops = dropCounter();
    const layer = await h.make({ capacity: 3, onDrop: drops.onDrop });
    const channel = await layer.newChannel();
    let thrown = 0;
    for (let i = 0; i < 5; i++) {
      await layer.send(channel, { type: "m", i }).catch((e) => {
        assert.ok(e instanceof ChannelFull);
        thrown++;
      });
    }
    if (caps.localCapacity === "throws") assert.equal(thrown, 2);
    else {
      assert.equal(thrown, 0);
      await drops.reached(2);
    }
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await receiveWithin(layer, channel)).i);
    assert.deepEqual(got, [0, 1, 2]);
    await receiveNothing(layer, channel, 100);
  });

  // ------------------------------------------------------------------ groups (§6.3)

  test("groups: add three, discard one, the other two receive", async (h) => {
    const layer = await h.make();
    const [c1, c2, c3] = [
      await layer.newChannel(),
      await layer.newChannel(),
      await layer.newChannel(),
    ];
    await layer.groupAdd("test-group", c1);
    await layer.groupAdd("test-group", c2);
    await layer.groupAdd("test-group", c3);
    await layer.groupAdd("test-group", c3); // idempotent
    await layer.groupDiscard("test-group", c2);
    await layer.groupSend("test-group", { type: "message.1" });
    assert.deepEqual(await receiveWithin(layer, c1), { type: "message.1" });
    assert.deepEqual(await receiveWithin(layer, c3), { type: "message.1" });
    await receiveNothing(layer, c2);
    await receiveNothing(layer, c3, 50); // exactly once despite the double add
  });

  test("group sends to a full member never throw; the others still receive", async (h) => {
    const drops = dropCounter();
    const layer = await h.make({ capacity: 1, onDrop: drops.onDrop });
    const full = await layer.newChannel();
    const other = await layer.newChannel();
    await layer.groupAdd("g", full);
    await layer.groupAdd("g", other);
    await layer.send(full, { type: "prefill" });
    // Make sure the member is full before the group sends (a direct and a group message may
    // travel through different hosts, so their relative order is not guaranteed).
    if (caps.localCapacity === "throws") {
      await assert.rejects(async () => await layer.send(full, { type: "overflow" }), ChannelFull);
    } else {
      await layer.send(full, { type: "overflow" });
      await drops.reached(1);
    }
    for (let i = 0; i < 5; i++) {
      await layer.groupSend("g", { type: "m", i });
      assert.equal((await receiveWithin(layer, other)).i, i);
    }
    assert.deepEqual(await receiveWithin(layer, full), { type: "prefill" });
  });

  test("groups: channels made with the same prefix all receive one group message", async (h) => {
    const layer = await h.make();
    const channels = [
      await layer.newChannel("same"),
      await layer.newChannel("same"),
      await layer.newChannel("same"),
    ];
    for (const c of channels) await layer.groupAdd("same-prefix", c);
    await layer.groupSend("same-prefix", { type: "hello" });
    for (const c of channels) assert.deepEqual(await receiveWithin(layer, c), { type: "hello" });
    for (const c of channels) await receiveNothing(layer, c, 50);
  });

  test("discard before add and send to an empty group are harmless", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    await layer.groupDiscard("nobody", channel);
    await layer.groupSend("nobody", { type: "void" });
    await layer.groupAdd("nobody", channel);
    await layer.groupDiscard("nobody", channel);
    await layer.groupSend("nobody", { type: "void" });
    await receiveNothing(layer, channel);
  });

  test("a group send reaches 100 members, each once", async (h) => {
    const layer = await h.make();
    const channels = [];
    for (let i = 0; i < 100; i++) channels.push(await layer.newChannel(i % 2 ? "odd" : "even"));
    await Promise.all(channels.map((c) => layer.groupAdd("crowd", c)));
    await layer.groupSend("crowd", { type: "all" });
    await layer.groupSend("crowd", { type: "again" });
    for (const c of channels) {
      assert.deepEqual(await receiveWithin(layer, c), { type: "all" });
      assert.deepEqual(await receiveWithin(layer, c), { type: "again" });
    }
  });

  test("direct sends to many process-local channels all arrive (§3.9-1)", async (h) => {
    const a = await h.make();
    const channels = [];
    for (let i = 0; i < 30; i++) channels.push(await a.newChannel(`p${i % 7}`));
    for (const [i, c] of channels.entries()) await a.send(c, { type: "direct", i });
    for (const [i, c] of channels.entries()) {
      assert.deepEqual(await receiveWithin(a, c), { type: "direct", i });
    }
  });

  // ------------------------------------------------------------------ expiry (§6.4)

  test("an expired message is not delivered; a later one is", async (h) => {
    using time = timeFor(caps);
    const layer = await h.make({ expiry: 0.3 });
    const channel = await layer.newChannel();
    await layer.send(channel, { type: "old" });
    await pass(time, 450); // the passage of time is what is tested
    await layer.send(channel, { type: "new" });
    assert.deepEqual(await receiveWithin(layer, channel), { type: "new" });
    await receiveNothing(layer, channel, 50);
  }, caps.expiry);

  test(
    "expiry applies to group sends; a direct message expires while group ones arrive",
    async (h) => {
      using time = timeFor(caps);
      const layer = await h.make({ expiry: 0.3 });
      const c1 = await layer.newChannel();
      const c2 = await layer.newChannel();
      await layer.groupAdd("exp", c1);
      await layer.groupAdd("exp", c2);
      await layer.send(c1, { type: "direct" });
      await layer.groupSend("exp", { type: "first" });
      await pass(time, 450);
      await layer.groupSend("exp", { type: "second" });
      assert.deepEqual(await receiveWithin(layer, c1), { type: "second" });
      assert.deepEqual(await receiveWithin(layer, c2), { type: "second" });
      await receiveNothing(layer, c1, 50);
    },
    caps.expiry,
  );

  test("messages younger than expiry all arrive, in order", async (h) => {
    using time = timeFor(caps);
    const layer = await h.make({ expiry: 0.6 });
    const channel = await layer.newChannel();
    for (const text of ["First", "Second", "Third"]) {
      await layer.send(channel, { type: "m", text });
      await pass(time, 100);
    }
    for (const text of ["First", "Second", "Third"]) {
      assert.equal((await receiveWithin(layer, channel)).text, text);
    }
  }, caps.expiry);

  test("a live member keeps receiving after several groupExpiry periods", async (h) => {
    using time = timeFor(caps);
    const groupExpiry = 0.5;
    const a = await h.make({ groupExpiry });
    const b = caps.sharedState ? await h.make({ groupExpiry }) : a;
    const channel = await a.newChannel();
    await a.groupAdd("long-lived", channel);
    // Four expiry periods pass without a new groupAdd: the waiting is what is tested.
    await pass(time, groupExpiry * 4000);
    await b.groupSend("long-lived", { type: "still.here" });
    assert.deepEqual(await receiveWithin(a, channel), { type: "still.here" });
  });

  test("a membership outlives its closed instance by groupExpiry, then ends", async (h) => {
    const groupExpiry = 0.3;
    const a = await h.make({ groupExpiry });
    const b = await h.make({ groupExpiry });
    await listen(h, b, "orphan-target");
    await a.groupAdd("orphans", "orphan-target");
    await a.close(); // nobody renews it any more
    await b.groupSend("orphans", { type: "soon" });
    assert.deepEqual(await receiveWithin(b, "orphan-target"), { type: "soon" });
    await sleep(groupExpiry * 1500); // time is what is tested: the server's expiry of the membership
    await b.groupSend("orphans", { type: "late" });
    await receiveNothing(b, "orphan-target");
  }, caps.groupExpiry && caps.sharedState);

  // ------------------------------------------------------------------ flush / close

  test("flush forgets messages and groups; a waiting receiver keeps waiting", async (h) => {
    const layer = await h.make();
    const queued = await layer.newChannel();
    const waiting = await layer.newChannel();
    await layer.groupAdd("flushed", queued);
    // Still on its way to this process when flush() starts (pub/sub): flush forgets it too.
    await layer.send(queued, { type: "before" });
    const pending = receiveWithin(layer, waiting);
    await layer.flush();
    await layer.groupSend("flushed", { type: "after.group" });
    await layer.send(waiting, { type: "after" });
    assert.deepEqual(await pending, { type: "after" });
    await receiveNothing(layer, queued);
  });

  test("close rejects waiting receivers and later calls with ClosedError", async (h) => {
    const layer = await h.make();
    const channel = await layer.newChannel();
    const pending = assert.rejects(layer.receive(channel), ClosedError);
    await layer.close();
    await pending;
    await assert.rejects(async () => await layer.send(channel, { type: "x" }), ClosedError);
    await assert.rejects(async () => await layer.newChannel(), ClosedError);
    await assert.rejects(async () => await layer.groupSend("g", { type: "x" }), ClosedError);
    await layer.close(); // idempotent
  });

  // ------------------------------------------------------------------ several processes

  test("two instances: clients in one room on each see every message", async (h) => {
    const a = await h.make();
    const b = await h.make();
    const clients: Array<[ChannelLayer, string]> = [
      [a, await a.newChannel("ws")],
      [a, await a.newChannel("ws")],
      [b, await b.newChannel("ws")],
      [b, await b.newChannel("ws")],
    ];
    for (const [layer, c] of clients) await layer.groupAdd("room", c);
    await a.groupSend("room", { type: "chat", from: "a" });
    await b.groupSend("room", { type: "chat", from: "b" });
    for (const [layer, c] of clients) {
      const seen = [await receiveWithin(layer, c), await receiveWithin(layer, c)];
      assert.deepEqual(seen.map((m) => m.from).sort(), ["a", "b"]);
      await receiveNothing(layer, c, 30);
    }
  }, caps.sharedState);

  test("two instances: a direct send reaches the other instance's channel", async (h) => {
    const a = await h.make();
    const b = await h.make();
    const onB = await b.newChannel();
    for (let i = 0; i < 10; i++) await a.send(onB, { type: "job.result", i });
    for (let i = 0; i < 10; i++) assert.equal((await receiveWithin(b, onB)).i, i);
  }, caps.sharedState);

  // ------------------------------------------------------------------ faults and isolation

  test(
    "flush deletes only what the layer owns: a job queue under its prefix survives",
    async (h) => {
      const layer = await h.make();
      const channel = await layer.newChannel();
      await layer.groupAdd("owned", channel);
      await layer.send("owned-queue", { type: "queued" });
      const foreign = await h.plantForeignKeys!();
      try {
        await layer.flush();
        assert.equal(await foreign.count(), foreign.planted, "flush deleted keys it does not own");
        await layer.groupSend("owned", { type: "after.flush" });
        await receiveNothing(layer, channel);
      } finally {
        await foreign.remove();
      }
    },
    !!caps.foreignKeys,
  );

  // The one restart case (the fault cases in conformance_faults.ts pause and drop instead).
  test(
    "backend restarted without persistence: memberships and subscriptions are restored",
    async (h) => {
      const a = await h.make();
      const b = await h.make();
      const members: Array<[ChannelLayer, string]> = [
        [a, await a.newChannel("ws")],
        [a, await a.newChannel("ws")],
        [b, await b.newChannel("ws")],
      ];
      for (const [layer, c] of members) await layer.groupAdd("restarted-room", c);
      const direct = await a.newChannel("ws");
      await b.groupSend("restarted-room", { type: "before" });
      for (const [layer, c] of members) {
        assert.deepEqual(await receiveWithin(layer, c), { type: "before" });
      }
      const resynced = Promise.all([a, b].map((layer) => nextEvent(layer, "resync")));
      await h.faults!.restart();
      await resynced;
      // Once an instance signalled its resync it can send at once, and what it held is back:
      // the process-local subscription or inbox (direct sends) and every membership.
      await b.send(direct, { type: "direct" });
      assert.deepEqual(await receiveSkippingResync(a, direct), { type: "direct" });
      await b.groupSend("restarted-room", { type: "after" });
      for (const [layer, c] of members) {
        assert.deepEqual(await receiveSkippingResync(layer, c), { type: "after" });
      }
      for (const [layer, c] of members) await receiveNothing(layer, c, 50);
    },
    !!caps.faults && !!caps.restartable && caps.sharedState,
  );

  test("a sender whose clock is off by more than expiry loses and deletes nothing", async (h) => {
    const expiry = 1;
    const receiver = await h.make({ expiry });
    const sender = await h.make({ expiry });
    await listen(h, receiver, "skewed-work");
    await sender.send("skewed-work", { type: "m", n: 0 });
    for (const [n, offset] of [[1, 3_000], [2, -3_000], [3, 0]]) {
      // The receiver is idle meanwhile: the message waits in the backend.
      using _clock = skewClock(offset);
      await sender.send("skewed-work", { type: "m", n });
    }
    for (let n = 0; n < 4; n++) assert.equal((await receiveWithin(receiver, "skewed-work")).n, n);
    await receiveNothing(receiver, "skewed-work", 50);
  }, caps.sharedState && !!caps.storesUntilRead);

  test("200 overlapping sends arrive in order, also encrypted", async (h) => {
    const options = { encryptionKeys: ["order-key"], capacity: 500 };
    const receiver = await h.make(options);
    const sender = caps.sharedState ? await h.make(options) : receiver;
    const channel = await receiver.newChannel();
    await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) => sender.send(channel, { type: "m", i, pad: "x".repeat((200 - i) * 200) }),
      ),
    );
    const got = [];
    for (let i = 0; i < 200; i++) got.push((await receiveWithin(receiver, channel)).i);
    assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i));
  });

  test(
    "a full channel of another instance: the overflow is counted and reported, never silent",
    async (h) => {
      const drops = dropCounter();
      const receiver = await h.make({ capacity: 3, onDrop: drops.onDrop });
      const sender = await h.make({ capacity: 3 });
      const channel = await receiver.newChannel();
      let thrown = 0;
      for (let i = 0; i < 5; i++) {
        await sender.send(channel, { type: "m", i }).catch((e) => {
          assert.ok(e instanceof ChannelFull, String(e));
          thrown++;
        });
      }
      if (thrown < 2) await drops.reached(2 - thrown);
      const got = [];
      for (let i = 0; i < 3; i++) got.push((await receiveWithin(receiver, channel)).i);
      assert.deepEqual(got, [0, 1, 2]);
      await receiveNothing(receiver, channel, 100);
    },
    caps.sharedState,
  );

  receiveNowCases(test, caps);
}
