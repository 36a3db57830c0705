/**
 * Issue 15 item 3 end to end: an app whose Redis is unreachable (never started) or paused keeps
 * answering frames that need no layer, tells the client with a `layer_unavailable` error frame,
 * and joins its groups once Redis is reachable. Real sockets, a real private redis-server.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  App,
  Consumer,
  layers,
  message,
  type MessageOf,
  Ping,
  Pong,
  serveForTests,
  WebsocketCommunicator,
  wsHandler,
} from "../core/deps.ts";
import { RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { GROUP_TYPE } from "../../src/layers/messages.ts";
import { RedisServer } from "../helpers/redis_servers.ts";
import { redisSkipReason } from "./redis_harness.ts";

const ALIAS = "outage-under-test";
const Shout = message("shout", z.object({ text: z.string() }));
const timeouts = { connectTimeoutMs: 400, commandTimeoutMs: 400 };
const backoff = { minDelayMs: 20, maxDelayMs: 200 };

class Lobby extends Consumer {
  static override layer = ALIAS;
  static override sendCompletion = false;
  static override defaultGroups(): string[] {
    return ["lobby"];
  }
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }
  @wsHandler(Shout)
  async handleShout(m: MessageOf<typeof Shout>): Promise<void> {
    await this.broadcastMessage(Shout.create(m.payload));
  }
}

/** Sends a ping and returns the milliseconds until the pong (failing after 3 s). */
async function pingPong(c: WebsocketCommunicator): Promise<number> {
  const started = performance.now();
  await c.sendJson({ action: "ping", payload: null });
  while (true) {
    const frame = await c.receiveJson({ timeout: 3000 }) as { action: string };
    if (frame.action === "pong") return performance.now() - started;
  }
}

Deno.test({
  name:
    "app: Redis never reachable: pong at once, a layer_unavailable error frame, groups joined once Redis is up",
  ignore: !!redisSkipReason(),
  sanitizeOps: false, // Deno.serve and WebSocket internals
  sanitizeResources: false,
  async fn() {
    const redis = new RedisServer(); // not started: nothing listens on its port
    const layer = new RedisPubSubChannelLayer({ url: redis.url, timeouts, backoff });
    layers.register(ALIAS, layer);
    const app = new App().ws("/lobby", Lobby);
    const server = await serveForTests(app);
    const worker = new RedisPubSubChannelLayer({ url: redis.url, timeouts, backoff });
    try {
      const c = await WebsocketCommunicator.connect(app, "/lobby", { url: server.url });
      const error = await c.receiveJson({ timeout: 5000 }) as {
        action: string;
        payload: { reason: string; detail: string };
      };
      assert.equal(error.action, "error");
      assert.equal(error.payload.reason, "layer_unavailable");
      assert.match(error.payload.detail, /Redis/);
      const ms = await pingPong(c);
      console.log(`pong while Redis is unreachable: ${ms.toFixed(1)} ms`);
      assert.ok(ms < timeouts.connectTimeoutMs, `pong took ${ms} ms: it waited for the layer`);

      // Redis comes up: the connection joins its default group on its own (retry with backoff).
      await redis.start();
      const deadline = Date.now() + 10_000;
      let heard = false;
      for (let i = 0; !heard; i++) {
        assert.ok(Date.now() < deadline, "the connection never joined its group");
        await worker.groupSend("lobby", {
          type: GROUP_TYPE,
          message: { action: "pong", payload: { probe: i } },
        }).catch(() => {}); // the worker's own connection may still be coming up
        const frame = await c.receiveJson({ timeout: 200 }).catch(() => undefined);
        heard = (frame as { action?: string } | undefined)?.action === "pong";
      }
      await c.disconnect();
    } finally {
      await worker.close();
      await server[Symbol.asyncDispose]();
      layers.unregister(ALIAS);
      await layer.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name:
    "app: Redis paused (SIGSTOP): a broadcast gets a bounded layer_unavailable error, pings go on",
  ignore: !!redisSkipReason(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const redis = await new RedisServer().start();
    const layer = new RedisPubSubChannelLayer({ url: redis.url, timeouts, backoff });
    layers.register(ALIAS, layer);
    const app = new App().ws("/lobby", Lobby);
    const server = await serveForTests(app);
    try {
      const c = await WebsocketCommunicator.connect(app, "/lobby", { url: server.url });
      await pingPong(c);
      redis.pause();
      try {
        const started = performance.now();
        await c.sendJson({ action: "shout", payload: { text: "anyone?" } });
        const frame = await c.receiveJson({ timeout: 5000 }) as {
          action: string;
          payload: { reason?: string };
        };
        const ms = performance.now() - started;
        console.log(`layer_unavailable for a broadcast while Redis is paused: ${ms.toFixed(0)} ms`);
        assert.equal(frame.action, "error");
        assert.equal(frame.payload.reason, "layer_unavailable");
        // Frames behind it are not stuck behind the pause.
        const pong = await pingPong(c);
        console.log(`pong while Redis is paused: ${pong.toFixed(1)} ms`);
      } finally {
        redis.resume();
      }
      await c.disconnect();
    } finally {
      await server[Symbol.asyncDispose]();
      layers.unregister(ALIAS);
      await layer.close();
      await redis.stop();
    }
  },
});
