/**
 * Redis queue layer tests beyond the conformance suite: key layout and wire format, inbox
 * capacity, expiry at delivery, foreign channels, on-demand reads of normal channels, the
 * multi-step group send, encryption at rest, and a Redis restart.
 */
import assert from "node:assert/strict";
import { createClient } from "redis";
import {
  ChannelFull,
  type LayerEvent,
  randomToken,
  RESYNC_MESSAGE_TYPE,
} from "../../src/layer_api.ts";
import { ForeignChannelError, RedisQueueChannelLayer } from "../../adapters/redis/mod.ts";
import { RedisServer } from "../helpers/redis_servers.ts";
import { receiveNothing, receiveWithin } from "./conformance.ts";
import { REDIS_URL, redisSkipReason } from "./redis_harness.ts";

const ignore = !!redisSkipReason();
const opts = { sanitizeOps: true, sanitizeResources: true, ignore };
const backoff = { minDelayMs: 20, maxDelayMs: 200 };

const newRaw = () => createClient({ url: REDIS_URL });
type Raw = ReturnType<typeof newRaw>;

/** Runs `fn` with a fresh prefix, a raw client and cleanup of every layer it makes. */
async function withLayers(
  fn: (
    make: (
      o?: Partial<ConstructorParameters<typeof RedisQueueChannelLayer>[0]>,
    ) => RedisQueueChannelLayer,
    raw: Raw,
    prefix: string,
  ) => Promise<void>,
): Promise<void> {
  const prefix = `sbtest${randomToken(8)}`;
  const made: RedisQueueChannelLayer[] = [];
  const raw = newRaw();
  raw.on("error", () => {});
  await raw.connect();
  try {
    await fn(
      (o = {}) => {
        const layer = new RedisQueueChannelLayer({ url: REDIS_URL, prefix, ...o });
        made.push(layer);
        return layer;
      },
      raw,
      prefix,
    );
  } finally {
    await Promise.all(made.map((l) => l.close()));
    const keys = await raw.keys(`${prefix}:*`);
    if (keys.length) await raw.del(keys);
    await raw.close();
  }
}

Deno.test({
  name: "queue: key layout and a wire format other languages can read",
  ...opts,
  fn: () =>
    withLayers(async (make, raw, prefix) => {
      const layer = make();
      await layer.send("plain", { type: "hello", n: 1 });
      await layer.groupAdd("room", "plain");
      const [entry] = await raw.zRange(`${prefix}:q:plain`, 0, -1);
      assert.match(entry, /^[0-9a-z]{12}[a-zA-Z0-9]{8}\[\]\n/);
      assert.deepEqual(JSON.parse(entry.slice(entry.indexOf("\n") + 1)), { type: "hello", n: 1 });
      assert.deepEqual(await raw.zRange(`${prefix}:group:room`, 0, -1), ["plain"]);
      assert.ok((await raw.pTTL(`${prefix}:q:plain`)) > 0);
      assert.ok((await raw.pTTL(`${prefix}:group:room`)) > 0);
      assert.deepEqual(await layer.groupMembers("room"), ["plain"]);
      const channel = await layer.newChannel("ws");
      await layer.groupAdd("room", channel);
      await layer.groupDiscard("room", "plain");
      assert.deepEqual(await layer.groupMembers("room"), [channel]);
    }),
});

Deno.test({
  name: "queue: a dead process's inbox fills up to inboxCapacity, then ChannelFull",
  ...opts,
  fn: () =>
    withLayers(async (make) => {
      const dead = make();
      const channel = await dead.newChannel();
      await dead.close();
      const sender = make({ inboxCapacity: 3 });
      for (let i = 0; i < 3; i++) await sender.send(channel, { type: "m", i });
      await assert.rejects(sender.send(channel, { type: "m", i: 3 }), ChannelFull);
      // A group send skips the full inbox without throwing.
      await sender.groupAdd("g", channel);
      await sender.groupSend("g", { type: "g" });
      assert.equal(sender.dropped.full, 1);
    }),
});

Deno.test({
  name: "queue: expiry is enforced at delivery, not only when sending (§3.6)",
  ...opts,
  fn: () =>
    withLayers(async (make) => {
      const sender = make({ expiry: 0.4 });
      const receiver = make({ expiry: 0.4 });
      await sender.send("plain", { type: "first" });
      await new Promise((r) => setTimeout(r, 250)); // time passing is what is tested
      await sender.send("plain", { type: "second" }); // refreshes the key's TTL
      await new Promise((r) => setTimeout(r, 250)); // "first" is now 500 ms old
      assert.deepEqual(await receiveWithin(receiver, "plain"), { type: "second" });
      assert.equal(receiver.dropped.expired, 1);
    }),
});

Deno.test({
  name: "queue: another instance may group a channel but not receive on it",
  ...opts,
  fn: () =>
    withLayers(async (make) => {
      const web = make();
      const worker = make();
      const channel = await web.newChannel();
      await assert.rejects(worker.receive(channel), ForeignChannelError);
      await worker.groupAdd("jobs", channel);
      await worker.groupSend("jobs", { type: "job.done" });
      assert.deepEqual(await receiveWithin(web, channel), { type: "job.done" });
    }),
});

Deno.test({
  name: "queue: normal channels are popped only on demand; an aborted receive loses nothing",
  ...opts,
  fn: () =>
    withLayers(async (make, raw, prefix) => {
      const a = make();
      const b = make();
      await a.send("work", { type: "w", i: 0 });
      await a.send("work", { type: "w", i: 1 });
      // Nobody receives yet: both stay in Redis for whoever asks first.
      assert.equal(await raw.zCard(`${prefix}:q:work`), 2);
      assert.equal((await receiveWithin(b, "work")).i, 0);
      assert.equal((await receiveWithin(a, "work")).i, 1);
      for (let i = 0; i < 10; i++) {
        const controller = new AbortController();
        const pending = b.receive("work", { signal: controller.signal }).then((m) => m, () => null);
        controller.abort(new Error("gone"));
        await a.send("work", { type: "w", i: 10 + i });
        const got = (await pending) ?? await receiveWithin(b, "work");
        assert.equal(got.i, 10 + i);
      }
    }),
});

Deno.test({
  name: "queue: group send with RegExp capacities (multi-step path) honours capacity",
  ...opts,
  fn: () =>
    withLayers(async (make) => {
      const layer = make({ channelCapacity: [[/^small$/, 1]] });
      await layer.groupAdd("g", "small");
      await layer.groupAdd("g", "big");
      for (let i = 0; i < 3; i++) await layer.groupSend("g", { type: "m", i });
      assert.equal((await receiveWithin(layer, "small")).i, 0);
      await receiveNothing(layer, "small", 100);
      for (let i = 0; i < 3; i++) assert.equal((await receiveWithin(layer, "big")).i, i);
      assert.equal(layer.dropped.full, 2);
    }),
});

Deno.test({
  name: "queue: glob capacities apply in the one-round-trip group send",
  ...opts,
  fn: () =>
    withLayers(async (make) => {
      const layer = make({ capacity: 5, channelCapacity: { "tiny.*": 1 } });
      await layer.groupAdd("g", "tiny.one");
      await layer.groupAdd("g", "normal");
      for (let i = 0; i < 3; i++) await layer.groupSend("g", { type: "m", i });
      assert.equal((await receiveWithin(layer, "tiny.one")).i, 0);
      await receiveNothing(layer, "tiny.one", 100);
      for (let i = 0; i < 3; i++) assert.equal((await receiveWithin(layer, "normal")).i, i);
    }),
});

Deno.test({
  name: "queue: encrypted at rest; key rotation works across instances",
  ...opts,
  fn: () =>
    withLayers(async (make, raw, prefix) => {
      const old = make({ encryptionKeys: ["old"] });
      const rotated = make({ encryptionKeys: ["new", "old"] });
      await old.send("secret", { type: "s", text: "attack at dawn" });
      const [entry] = await raw.zRange(`${prefix}:q:secret`, 0, -1);
      assert.ok(!entry.includes("dawn"));
      assert.deepEqual(await receiveWithin(rotated, "secret"), {
        type: "s",
        text: "attack at dawn",
      });
      await rotated.send("secret", { type: "s2" });
      await receiveNothing(old, "secret", 200);
      assert.equal(old.dropped.invalid, 1);
    }),
});

Deno.test({
  name: "queue: a Redis restart is detected (run_id), reported, and reading resumes",
  ...opts,
  fn: async () => {
    const server = await new RedisServer().start();
    const layer = new RedisQueueChannelLayer({ url: server.url, backoff });
    const events: LayerEvent[] = [];
    let resynced!: () => void;
    const resync = new Promise<void>((r) => resynced = r);
    layer.onEvent((e) => {
      events.push(e);
      if (e.type === "resync") resynced();
    });
    try {
      const channel = await layer.newChannel();
      await layer.send(channel, { type: "before" });
      assert.deepEqual(await receiveWithin(layer, channel), { type: "before" });
      await server.restart();
      await resync;
      assert.deepEqual(events.map((e) => e.type), ["disconnected", "resync"]);
      assert.equal((await receiveWithin(layer, channel)).type, RESYNC_MESSAGE_TYPE);
      // The resync signal means the layer is usable again: sending works at once.
      await layer.send(channel, { type: "after" });
      assert.deepEqual(await receiveWithin(layer, channel), { type: "after" });
    } finally {
      await layer.close();
      assert.equal(await server.connectedClients(), 0, "close() left connections open");
      await server.stop();
    }
  },
});
