/**
 * Redis pub/sub layer tests beyond the conformance suite: outages (server restart, killed
 * connection, a Redis still loading its data or too slow to answer when the subscriber is back),
 * loud publish failures, foreign channels, encryption, user-supplied clients. (The
 * subscriber and command connections coming back in either order is a conformance case now:
 * `conformance_reconnect.ts`, run by both Redis layers.)
 */
import assert from "node:assert/strict";
import { createClient } from "redis";
import {
  type LayerEvent,
  LayerUnavailableError,
  randomToken,
  RESYNC_MESSAGE_TYPE,
  SerializationError,
} from "../../src/layers/kit.ts";
import { ForeignChannelError, RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { rawCommand, RedisServer, settledClients } from "../helpers/redis_servers.ts";
import { TcpProxy } from "../../testing/tcp_proxy.ts";
import { receiveNothing, receiveSkippingResync, receiveWithin } from "./conformance.ts";
import { REDIS_URL, redisSkipReason } from "./redis_harness.ts";
import { setLogger } from "../../src/logger.ts";
import { within } from "./conformance_faults.ts";

const ignore = !!redisSkipReason();
const opts = { sanitizeOps: true, sanitizeResources: true, ignore };
const backoff = { minDelayMs: 20, maxDelayMs: 200 };

/** Resolves with the next event of `type`, or rejects after `ms`. */
function nextEvent(
  layer: RedisPubSubChannelLayer,
  type: LayerEvent["type"],
  ms = 5000,
): Promise<LayerEvent> {
  let off = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new Promise<LayerEvent>((resolve, reject) => {
    off = layer.onEvent((event) => {
      if (event.type === type) resolve(event);
    });
    timer = setTimeout(() => reject(new Error(`no '${type}' event within ${ms} ms`)), ms);
  }).finally(() => {
    off();
    clearTimeout(timer);
  });
}

Deno.test({
  name: "pub/sub: a Redis restart mid-test raises the resync signal and delivery resumes",
  ...opts,
  fn: async () => {
    const server = await new RedisServer().start();
    const web = new RedisPubSubChannelLayer({ url: server.url, backoff });
    const worker = new RedisPubSubChannelLayer({ url: server.url, backoff });
    try {
      const member = await web.newChannel("ws");
      const direct = await web.newChannel("ws");
      await web.groupAdd("room", member);
      await worker.groupSend("room", { type: "chat", n: 1 });
      assert.deepEqual(await receiveWithin(web, member), { type: "chat", n: 1 });

      const disconnected = nextEvent(web, "disconnected");
      const resync = nextEvent(web, "resync");
      await server.stop();
      assert.match((await disconnected).reason, /host 0/);
      await server.start();
      assert.match((await resync).reason, /reconnected/);

      // Every local channel, group member or not, is told that messages may have been missed.
      for (const channel of [member, direct]) {
        const notice = await receiveWithin(web, channel);
        assert.equal(notice.type, RESYNC_MESSAGE_TYPE);
        assert.match(String(notice.reason), /lost/);
      }
      // The worker's own command connection reconnects too; retry until it is back.
      const deadline = Date.now() + 5000;
      while (true) {
        try {
          await worker.groupSend("room", { type: "chat", n: 2 });
          break;
        } catch (error) {
          assert.ok(error instanceof LayerUnavailableError);
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      assert.deepEqual(await receiveWithin(web, member), { type: "chat", n: 2 });
      await worker.send(direct, { type: "direct" });
      assert.deepEqual(await receiveWithin(web, direct), { type: "direct" });
    } finally {
      await web.close();
      await worker.close();
      assert.equal(await settledClients(server, 0), 0, "close() left connections open");
      await server.stop();
    }
  },
});

Deno.test({
  name: "pub/sub: a killed subscriber connection is re-established and reported",
  ...opts,
  fn: async () => {
    const server = await new RedisServer().start();
    const layer = new RedisPubSubChannelLayer({ url: server.url, backoff });
    try {
      const channel = await layer.newChannel();
      await layer.groupAdd("g", channel);
      const resync = nextEvent(layer, "resync");
      const killed = await rawCommand(server.port, "CLIENT KILL TYPE pubsub");
      assert.equal(killed, ":1");
      await resync;
      assert.equal((await receiveWithin(layer, channel)).type, RESYNC_MESSAGE_TYPE);
      await layer.groupSend("g", { type: "after" });
      assert.deepEqual(await receiveWithin(layer, channel), { type: "after" });
    } finally {
      await layer.close();
      await server.stop();
    }
  },
});

/**
 * Replaces the logger with a quiet one until `restore()`; `seen` resolves at the first warning
 * that matches `pattern`.
 */
function watchWarnings(pattern: RegExp): { seen: Promise<void>; restore(): void } {
  let resolve!: () => void;
  const seen = new Promise<void>((r) => resolve = r);
  const quiet = () => {};
  const previous = setLogger({
    debug: quiet,
    info: quiet,
    error: quiet,
    warn: (message) => pattern.test(message) && resolve(),
  });
  return { seen, restore: () => setLogger(previous) };
}

Deno.test({
  name:
    "pub/sub: the subscriber is back while Redis still loads its data (-LOADING): the resync comes once it answers",
  ...opts,
  fn: async () => {
    // 1,500 keys loaded at 1 ms each, with events processed every KiB: after the restart Redis
    // accepts connections and SUBSCRIBEs for ~1.5 s but answers PING with -LOADING, like a
    // crashed Redis reading a large append-only file (soak run e2: no resync reached a client).
    const server = await new RedisServer({
      args: ["--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024"],
    }).start();
    const layer = new RedisPubSubChannelLayer({ url: server.url, backoff });
    const loading = watchWarnings(/host 0 reconnected but does not answer yet \(LOADING/);
    try {
      const fill = `EVAL "for i=1,1500 do redis.call('SET','k'..i,string.rep('x',100)) end" 0`;
      assert.equal(await server.command(fill, 5000), "$-1");
      const member = await layer.newChannel();
      const direct = await layer.newChannel();
      await layer.groupAdd("room", member);
      const disconnected = nextEvent(layer, "disconnected", 15_000);
      const resync = nextEvent(layer, "resync", 15_000);
      await server.restart({ keepData: true }); // resolves once Redis answers PING again
      await disconnected;
      assert.match((await resync).reason, /host 0 reconnected/);
      for (const channel of [member, direct]) {
        assert.equal((await receiveWithin(layer, channel)).type, RESYNC_MESSAGE_TYPE);
      }
      await within(loading.seen, 0, "the subscriber reconnected while Redis was loading");
      assert.equal(await server.command("DBSIZE"), ":1500");
      await layer.groupSend("room", { type: "after" });
      assert.deepEqual(await receiveWithin(layer, member), { type: "after" });
    } finally {
      loading.restore();
      await layer.close();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "pub/sub: the subscriber's first PING after a reconnect times out (a slow Redis): the resync still comes",
  ...opts,
  fn: async () => {
    const server = await new RedisServer().start();
    const proxy = await TcpProxy.start(server.port);
    const layer = new RedisPubSubChannelLayer({
      url: proxy.url("redis"),
      backoff,
      timeouts: { commandTimeoutMs: 300 },
    });
    const slow = watchWarnings(/host 0 reconnected but does not answer yet \(PING got no reply/);
    try {
      const channel = await layer.newChannel();
      await layer.groupAdd("g", channel);
      const resync = nextEvent(layer, "resync", 10_000);
      resync.catch(() => {}); // awaited below
      // Every reply takes 500 ms: the links reconnect (no timeout on the handshake), but the
      // PING that confirms the restored subscriptions gets no reply within 300 ms.
      proxy.latency({ toClient: 500 });
      proxy.dropAll();
      await within(Promise.race([slow.seen, resync]), 8_000, "a resync, or the PING timing out");
      proxy.heal();
      assert.match((await resync).reason, /host 0 reconnected/);
      await within(slow.seen, 0, "the PING after the reconnect timed out");
      assert.equal((await receiveWithin(layer, channel)).type, RESYNC_MESSAGE_TYPE);
      await layer.groupSend("g", { type: "after" });
      assert.deepEqual(await receiveSkippingResync(layer, channel), { type: "after" });
    } finally {
      slow.restore();
      await layer.close();
      await proxy.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "pub/sub: publishing while Redis is down fails loudly; close() still works",
  ...opts,
  fn: async () => {
    const server = await new RedisServer().start();
    const layer = new RedisPubSubChannelLayer({ url: server.url, backoff });
    try {
      const channel = await layer.newChannel();
      const down = nextEvent(layer, "disconnected");
      await server.stop();
      await down;
      await assert.rejects(layer.send(channel, { type: "x" }), LayerUnavailableError);
      await assert.rejects(layer.groupSend("g", { type: "x" }), LayerUnavailableError);
      await assert.rejects(layer.groupAdd("g", channel), LayerUnavailableError);
    } finally {
      await layer.close(); // while Redis is down: must not hang
      await server.start();
      assert.equal(await settledClients(server, 0), 0);
      await server.stop();
    }
  },
});

Deno.test({
  name: "pub/sub: another instance's process-local channel cannot be grouped or received",
  ...opts,
  fn: async () => {
    const prefix = `sbtest${randomToken(8)}`;
    const a = new RedisPubSubChannelLayer({ url: REDIS_URL, prefix });
    const b = new RedisPubSubChannelLayer({ url: REDIS_URL, prefix });
    try {
      const onA = await a.newChannel();
      await assert.rejects(b.groupAdd("g", onA), ForeignChannelError);
      await assert.rejects(b.receive(onA), ForeignChannelError);
      await b.send(onA, { type: "ok" }); // sending is fine
      assert.deepEqual(await receiveWithin(a, onA), { type: "ok" });
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "pub/sub: every process listening on a normal channel gets a copy",
  ...opts,
  fn: async () => {
    const prefix = `sbtest${randomToken(8)}`;
    const a = new RedisPubSubChannelLayer({ url: REDIS_URL, prefix });
    const b = new RedisPubSubChannelLayer({ url: REDIS_URL, prefix });
    try {
      await a.listen("broadcast");
      await b.listen("broadcast");
      await a.send("broadcast", { type: "hello" });
      assert.deepEqual(await receiveWithin(a, "broadcast"), { type: "hello" });
      assert.deepEqual(await receiveWithin(b, "broadcast"), { type: "hello" });
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "pub/sub: encrypted layers with rotated keys interoperate; wrong keys are counted",
  ...opts,
  fn: async () => {
    const prefix = `sbtest${randomToken(8)}`;
    const dropped: string[] = [];
    const rotated = new RedisPubSubChannelLayer({
      url: REDIS_URL,
      prefix,
      encryptionKeys: ["new", "old"],
    });
    const old = new RedisPubSubChannelLayer({
      url: REDIS_URL,
      prefix,
      encryptionKeys: ["old"],
      onDrop: ({ reason }) => dropped.push(reason),
    });
    const spy = createClient({ url: REDIS_URL });
    spy.on("error", () => {});
    await spy.connect();
    try {
      const onRotated = await rotated.newChannel();
      const onOld = await old.newChannel();
      const wire: string[] = [];
      let heard!: () => void;
      const seen = new Promise<void>((resolve) => heard = resolve);
      await spy.subscribe(`${prefix}:${onRotated.slice(0, onRotated.indexOf("!") + 1)}`, (m) => {
        wire.push(m);
        heard();
      });
      await old.send(onRotated, { type: "secret", text: "attack at dawn" });
      assert.deepEqual(await receiveWithin(rotated, onRotated), {
        type: "secret",
        text: "attack at dawn",
      });
      await seen;
      assert.ok(!wire[0].includes("dawn"), "the payload is encrypted on the wire");
      await rotated.send(onOld, { type: "new.key" });
      await receiveNothing(old, onOld, 200);
      assert.deepEqual(dropped, ["invalid"]);
      assert.equal(old.dropped.invalid, 1);
      await assert.rejects(
        rotated.send(onOld, { type: "x", n: 1n } as never),
        SerializationError,
      );
    } finally {
      await spy.close();
      await rotated.close();
      await old.close();
    }
  },
});

Deno.test({
  name: "pub/sub: a user-supplied client is used but not closed; its duplicates are",
  ...opts,
  fn: async () => {
    const server = await new RedisServer().start();
    const client = createClient({ url: server.url });
    client.on("error", () => {});
    await client.connect();
    const layer = new RedisPubSubChannelLayer({ hosts: [client] });
    try {
      const channel = await layer.newChannel();
      await layer.send(channel, { type: "via.user.client" });
      assert.deepEqual(await receiveWithin(layer, channel), { type: "via.user.client" });
      assert.equal(await settledClients(server, 2), 2); // the user's client + the subscriber
      await layer.close();
      assert.equal(client.isOpen, true);
      assert.equal(await settledClients(server, 1), 1);
    } finally {
      await layer.close();
      await client.close();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "pub/sub: an UNSUBSCRIBE lost with the connection is redone: no duplicate, no stale subscription",
  ...opts,
  fn: async () => {
    const server = await new RedisServer().start();
    const proxy = await TcpProxy.start(server.port);
    const layer = new RedisPubSubChannelLayer({ url: proxy.url("redis"), backoff, prefix: "sb" });
    const sender = new RedisPubSubChannelLayer({ url: server.url, backoff, prefix: "sb" });
    const spy = createClient({ url: server.url });
    spy.on("error", () => {});
    await spy.connect();
    const subscribers = async (key: string) =>
      Number((await spy.sendCommand(["PUBSUB", "NUMSUB", key]) as unknown[])[1]);
    try {
      const channel = await layer.newChannel();
      await layer.groupAdd("left", channel);
      await layer.groupAdd("back", channel);
      assert.equal(await subscribers("sb:group:left"), 1);
      proxy.pause();
      const leaving = layer.groupDiscard("left", channel);
      const leavingBack = layer.groupDiscard("back", channel);
      await proxy.waitForHeld(); // the UNSUBSCRIBEs are on the wire, unanswered
      const resync = nextEvent(layer, "resync");
      assert.equal(proxy.dropAll(), 2);
      proxy.resume();
      await leaving;
      await leavingBack;
      await resync;
      // Redone after the reconnect: Redis no longer sends this process the group it left.
      assert.equal(await subscribers("sb:group:left"), 0);
      // Re-joining adds no second listener: one message, one delivery.
      await layer.groupAdd("back", channel);
      await sender.groupSend("back", { type: "once" });
      const got = [];
      while (true) {
        const m = await receiveWithin(layer, channel);
        if (m.type !== RESYNC_MESSAGE_TYPE) {
          got.push(m);
          break;
        }
      }
      assert.deepEqual(got, [{ type: "once" }]);
      await receiveNothing(layer, channel, 200);
    } finally {
      await spy.close();
      await layer.close();
      await sender.close();
      await proxy.close();
      await server.stop();
    }
  },
});
