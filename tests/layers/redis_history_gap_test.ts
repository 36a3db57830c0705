/**
 * Server-side gap fill (docs/recovery.md): when a process's Redis pub/sub subscription comes
 * back after an outage, its connections with history get what was published meanwhile from the
 * history, in order, instead of only a resync. The subscriber link goes through a TCP proxy
 * (the layer's own `duplicate()` seam); the sender is another layer instance ("process").
 * Also a connection that joins while Redis is down: it starts from the position this process
 * knew, so it gets what followed its join, not a `recovered: false`; and one whose start read is
 * slow: a message sent once its join is acknowledged is not taken for one it had.
 */
import assert from "node:assert/strict";
import { createClient } from "redis";
import { z } from "zod";
import { type RedisClientLike, RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import {
  App,
  Consumer,
  layers,
  LayerUnavailableError,
  message,
  type MessageOf,
  wsHandler,
} from "../../mod.ts";
import { GROUP_TYPE } from "../../src/layers/messages.ts";
import { startRedis } from "../../testing/redis_server.ts";
import { skipReason } from "../../testing/services.ts";
import { TcpProxy } from "../../testing/tcp_proxy.ts";
import { WebsocketCommunicator } from "../../testing/mod.ts";
import { nextEvent } from "./conformance.ts";

const HISTORY = { size: 1000, ttlMs: 60_000 };

for (const restart of ["none", "keepData", "empty"] as const) {
  Deno.test({
    name: `redis pub/sub: a subscription back after an outage fills the gap from the history (${
      restart === "none" ? "the subscriber link dropped" : `Redis restarted, ${restart}`
    })`,
    ignore: !!skipReason("redis"),
    fn: () => gapScenario(restart),
  });
}

/** Sends `{n}` to `room` through its history, from `layer` (another process's). */
function poster(layer: RedisPubSubChannelLayer, room: string) {
  return (n: number) =>
    layer.appendAndSend(room, {
      type: GROUP_TYPE,
      message: { action: "posted", payload: { n } },
    }, HISTORY);
}

/** A node-redis client as the layers open them, reconnecting fast. */
function open(url: string): RedisClientLike {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { reconnectStrategy: (n: number) => Math.min(20 * 2 ** n, 200) },
  });
  client.on("error", () => {});
  return client as unknown as RedisClientLike;
}

async function gapScenario(restart: "none" | "keepData" | "empty"): Promise<void> {
  {
    await using redis = await startRedis();
    const proxy = await TcpProxy.start(redis.port);
    const commands = open(redis.url);
    commands.duplicate = () => open(proxy.url("redis"));
    await commands.connect();
    const local = new RedisPubSubChannelLayer({ hosts: [commands] });
    const remote = new RedisPubSubChannelLayer({ url: redis.url });
    layers.register("gap-fill", local);
    class Chat extends Consumer {
      static override layer = "gap-fill";
      static override groups = ["gap-room"];
      static override history = HISTORY;
      static resyncs: string[] = [];
      override onResync(reason: string) {
        Chat.resyncs.push(reason);
      }
    }
    class Plain extends Consumer {
      static override layer = "gap-fill";
      static override groups = ["gap-room"];
      static resyncs: string[] = [];
      override onResync(reason: string) {
        Plain.resyncs.push(reason);
      }
    }
    const app = new App().ws("/chat", Chat).ws("/plain", Plain);
    const send = poster(remote, "gap-room");
    try {
      await using client = await WebsocketCommunicator.connect(app, "/chat");
      await using plain = await WebsocketCommunicator.connect(app, "/plain");
      const start = await client.receiveJson() as { action: string };
      assert.equal(start.action, "history_position");
      await send(1);
      assert.deepEqual(((await client.receiveJson()) as { payload: unknown }).payload, { n: 1 });
      assert.deepEqual(((await plain.receiveJson()) as { payload: unknown }).payload, { n: 1 });

      const down = nextEvent(local, "disconnected");
      proxy.refuse();
      proxy.cut();
      await down;
      if (restart !== "none") await redis.restart({ keepData: restart === "keepData" });
      for (let n = 2; n <= 200; n++) await retried(() => send(n));
      const back = nextEvent(local, "resync", 20_000);
      proxy.heal();
      await back;
      if (restart === "empty") {
        // The history was lost with the data: told, then what the new history holds (all of it).
        const told = await client.receiveJson() as { action: string; payload: { reason: string } };
        assert.equal(told.action, "history_recovery");
        assert.equal(told.payload.reason, "epoch_changed");
      }
      for (let n = 2; n <= 200; n++) {
        const frame = await client.receiveJson() as {
          payload: unknown;
          position: { offset: number };
        };
        assert.deepEqual(frame.payload, { n });
        assert.equal(frame.position.offset, restart === "empty" ? n - 1 : n);
      }
      await send(201);
      const live = await client.receiveJson() as { payload: unknown };
      assert.deepEqual(live.payload, { n: 201 });
      assert.deepEqual(
        Chat.resyncs,
        restart === "empty" ? ["history: epoch_changed"] : [],
        "a filled gap needs no resync; a lost history is one",
      );
      // A consumer without history keeps today's behaviour: the gap, then onResync.
      assert.deepEqual(((await plain.receiveJson()) as { payload: unknown }).payload, { n: 201 });
      assert.equal(Plain.resyncs.length, 1);
    } finally {
      layers.unregister("gap-fill");
      await local.close();
      await remote.close();
      await commands.close();
      await proxy.close();
    }
  }
}

/** Runs `fn` until the sender's Redis connection is back (a restart drops it). */
async function retried<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof LayerUnavailableError) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const Join = message("join", z.object({}));
const Joined = message("joined", z.object({}));

for (const restart of ["keepData", "empty"] as const) {
  Deno.test({
    name:
      `redis pub/sub: a connection that joins a history group while Redis is down starts from the position its process knew (Redis restarted, ${restart})`,
    ignore: !!skipReason("redis"),
    fn: () => joinWhileDown(restart),
  });
}

/**
 * X is in the room before the outage; this process's links to Redis (commands and subscriber,
 * each through a proxy) drop and Redis restarts; Y joins the room meanwhile (its start position
 * cannot be read). Another process sends while this one cannot hear (commands back, the
 * subscriber not yet), then after it re-subscribed. Y gets every message after its join, in
 * order, once, and is told nothing is lost unless the history was (`empty`: `epoch_changed`,
 * then all that was sent after the restart).
 */
async function joinWhileDown(restart: "keepData" | "empty"): Promise<void> {
  await using redis = await startRedis();
  const subLink = await TcpProxy.start(redis.port);
  const commandLink = await TcpProxy.start(redis.port);
  const commands = open(commandLink.url("redis"));
  commands.duplicate = () => open(subLink.url("redis"));
  await commands.connect();
  const local = new RedisPubSubChannelLayer({ hosts: [commands] });
  const remote = new RedisPubSubChannelLayer({ url: redis.url });
  const alias = `join-while-down-${restart}`;
  layers.register(alias, local);
  class Chat extends Consumer {
    static override layer = alias;
    static override history = HISTORY;
    static resyncs: string[] = [];
    @wsHandler(Join, { output: Joined })
    async handleJoin(_m: MessageOf<typeof Join>) {
      await this.joinGroup("join-room");
      return Joined.create({});
    }
    override onResync(reason: string) {
      Chat.resyncs.push(reason);
    }
  }
  const app = new App().ws("/chat", Chat);
  const send = poster(remote, "join-room");
  type Frame = { action: string; payload: Record<string, unknown>; position?: { offset: number } };
  /** Frames until `action` (included); the history frames of the stream are all kept. */
  const until = async (comm: WebsocketCommunicator, action: string, into: Frame[]) => {
    for (;;) {
      const frame = await comm.receiveJson() as Frame;
      into.push(frame);
      if (frame.action === action) return;
    }
  };
  try {
    await using x = await WebsocketCommunicator.connect(app, "/chat");
    await using y = await WebsocketCommunicator.connect(app, "/chat");
    const xFrames: Frame[] = [];
    await x.sendJson(Join.create({}));
    await until(x, "joined", xFrames);
    if (!xFrames.some((f) => f.action === "history_position")) {
      await until(x, "history_position", xFrames);
    }
    await send(1);
    assert.deepEqual((await x.receiveJson() as Frame).payload, { n: 1 });

    // This process loses Redis, and Redis restarts (with its data or without).
    const down = nextEvent(local, "disconnected");
    for (const link of [subLink, commandLink]) {
      link.refuse();
      link.cut();
    }
    await down;
    await redis.restart({ keepData: restart === "keepData" });
    const yFrames: Frame[] = [];
    await y.sendJson(Join.create({}));
    await until(y, "joined", yFrames); // joined while this process cannot reach Redis

    // Back for commands, not yet for the subscription: the other process's sends go unheard.
    commandLink.heal();
    for (let n = 2; n <= 30; n++) await retried(() => send(n));
    const back = nextEvent(local, "resync", 20_000);
    subLink.heal();
    await back;
    for (let n = 31; n <= 40; n++) await send(n); // heard live
    await until(y, "posted", yFrames);
    while ((yFrames.at(-1)!.payload as { n: number }).n < 40) {
      yFrames.push(await y.receiveJson() as Frame);
    }
    const told = yFrames.filter((f) => f.action === "history_recovery");
    const posted = yFrames.filter((f) => f.action === "posted");
    assert.deepEqual(
      posted.map((f) => (f.payload as { n: number }).n),
      Array.from({ length: 39 }, (_, i) => i + 2),
      "every message after the join, in order, once",
    );
    if (restart === "keepData") {
      assert.deepEqual(told, [], "the history held them: nothing to tell");
      assert.deepEqual(posted.map((f) => f.position?.offset), posted.map((_, i) => i + 2));
      // The start is the position this process knew (X's), older than the join.
      const start = yFrames.find((f) => f.action === "history_position");
      assert.equal((start?.payload.position as { offset: number }).offset, 1);
      assert.deepEqual(Chat.resyncs, []);
    } else {
      // The history was lost with Redis's data: told, and all the new history holds follows.
      assert.deepEqual(told.map((f) => [f.payload.recovered, f.payload.reason]), [
        [false, "epoch_changed"],
      ]);
      assert.deepEqual(posted.map((f) => f.position?.offset), posted.map((_, i) => i + 1));
    }
    await send(41); // and nothing more: no duplicate after the seam
    assert.deepEqual((await y.receiveJson() as Frame).payload, { n: 41 });
  } finally {
    layers.unregister(alias);
    await local.close();
    await remote.close();
    await commands.close();
    await subLink.close();
    await commandLink.close();
  }
}

Deno.test({
  name:
    "redis pub/sub: a message sent once a history join is acknowledged arrives, however slow the start read",
  ignore: !!skipReason("redis"),
  async fn() {
    await using redis = await startRedis();
    const commandLink = await TcpProxy.start(redis.port);
    const commands = open(commandLink.url("redis"));
    commands.duplicate = () => open(redis.url); // the subscriber is not slowed
    await commands.connect();
    const local = new RedisPubSubChannelLayer({ hosts: [commands] });
    const remote = new RedisPubSubChannelLayer({ url: redis.url });
    layers.register("slow-start", local);
    class Chat extends Consumer {
      static override layer = "slow-start";
      static override groups = ["slow-room"];
      static override history = HISTORY;
    }
    class Joiner extends Consumer {
      static override layer = "slow-start";
      static override history = HISTORY;
      @wsHandler(Join, { output: Joined })
      async handleJoin(_m: MessageOf<typeof Join>) {
        await this.joinGroup("slow-room");
        return Joined.create({});
      }
    }
    const app = new App().ws("/chat", Chat).ws("/join", Joiner);
    const send = poster(remote, "slow-room");
    try {
      // Another connection holds the group: the join needs no Redis round trip of its own.
      await using member = await WebsocketCommunicator.connect(app, "/chat");
      assert.equal((await member.receiveJson() as { action: string }).action, "history_position");
      await send(1);
      await using joiner = await WebsocketCommunicator.connect(app, "/join");
      commandLink.latency({ toUpstream: 300 }); // the start read reaches Redis late
      await joiner.sendJson(Join.create({}));
      const frames: { action: string; payload: Record<string, unknown> }[] = [];
      while (!frames.some((f) => f.action === "joined")) {
        frames.push(await joiner.receiveJson() as (typeof frames)[number]);
      }
      await send(2); // once the client knows it joined
      await send(3);
      commandLink.latency(0);
      while (frames.filter((f) => f.action === "posted").length < 2) {
        frames.push(await joiner.receiveJson() as (typeof frames)[number]);
      }
      assert.deepEqual(
        frames.filter((f) => f.action === "posted").map((f) => f.payload),
        [{ n: 2 }, { n: 3 }],
        "what was sent after the join, in order",
      );
      assert.deepEqual(frames.filter((f) => f.action === "history_recovery"), []);
    } finally {
      layers.unregister("slow-start");
      await local.close();
      await remote.close();
      await commands.close();
      await commandLink.close();
    }
  },
});
