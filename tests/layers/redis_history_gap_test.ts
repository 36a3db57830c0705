/**
 * Server-side gap fill (docs/recovery.md): when a process's Redis pub/sub subscription comes
 * back after an outage, its connections with history get what was published meanwhile from the
 * history, in order, instead of only a resync. The subscriber link goes through a TCP proxy
 * (the layer's own `duplicate()` seam); the sender is another layer instance ("process").
 */
import assert from "node:assert/strict";
import { createClient } from "redis";
import { type RedisClientLike, RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { App, Consumer, layers, LayerUnavailableError } from "../../mod.ts";
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

async function gapScenario(restart: "none" | "keepData" | "empty"): Promise<void> {
  {
    await using redis = await startRedis();
    const proxy = await TcpProxy.start(redis.port);
    const open = (url: string) => {
      const client = createClient({
        url,
        disableOfflineQueue: true,
        socket: { reconnectStrategy: (n: number) => Math.min(20 * 2 ** n, 200) },
      });
      client.on("error", () => {});
      return client as unknown as RedisClientLike;
    };
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
    const send = (n: number) =>
      remote.appendAndSend("gap-room", {
        type: GROUP_TYPE,
        message: { action: "posted", payload: { n } },
      }, HISTORY);
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
