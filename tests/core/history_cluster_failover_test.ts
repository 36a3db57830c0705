/**
 * History through a whole app across a Redis Cluster failover: a client stays connected to an
 * app on the pub/sub layer while the master of its group's slot is killed and its replica
 * promoted; another process goes on sending meanwhile. What it published while the app's shard
 * subscription moved is lost live, but the connection fills the gap from the (replicated)
 * history: the client gets every message, in offset order, once, and no "not recovered" notice.
 *
 * @module
 */
import { z } from "zod";
import { RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { startRedisCluster } from "../../testing/redis_cluster.ts";
import { skipReason } from "../../testing/services.ts";
import { GROUP_TYPE } from "../../src/layers/messages.ts";
import { randomToken } from "../../src/layers/kit.ts";
import { eventually } from "../layers/conformance_faults.ts";
import { replicated } from "../helpers/cluster_nodes.ts";
import { quietLogs } from "../jobs/contract.ts";
import {
  App,
  assert,
  Consumer,
  layers,
  message,
  type MessageOf,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";

quietLogs();
const Post = message("post", z.object({ n: z.number() }));
const Posted = message("posted", z.object({ n: z.number() }));
const HISTORY = { size: 1000, ttlMs: 60_000 };

type Frame = Record<string, unknown> & { action: string; payload: Record<string, unknown> };

Deno.test({
  name: "redis cluster pub/sub, history: a killed master (replica promoted) loses nothing " +
    "for a connected client: the gap is filled from the replicated history",
  ignore: skipReason("redis") !== undefined,
  async fn() {
    await using cluster = await startRedisCluster();
    const prefix = `hf${randomToken(6)}`;
    const room = "room";
    const options = {
      cluster: { rootNodes: cluster.urls },
      prefix,
      backoff: { minDelayMs: 20, maxDelayMs: 200 },
    };
    const layer = new RedisPubSubChannelLayer(options);
    const sender = new RedisPubSubChannelLayer(options); // another process's layer
    const alias = `history-failover-${randomToken(6)}`;
    layers.register(alias, layer);
    class Chat extends Consumer {
      static override layer = alias;
      static override groups = [room];
      static override history = HISTORY;
      @wsHandler(Post)
      async handlePost(m: MessageOf<typeof Post>) {
        await this.broadcastMessage(Posted.create(m.payload));
      }
    }
    const app = new App().ws("/chat", Chat);
    const send = (n: number) =>
      sender.appendAndSend(room, {
        type: GROUP_TYPE,
        message: { action: "posted", payload: { n } },
      }, HISTORY);
    try {
      await using client = await WebsocketCommunicator.connect(app, "/chat");
      const frame = async () => await client.receiveJson({ timeout: 20_000 }) as Frame;
      const start = await frame();
      assert.equal(start.action, "history_position");
      const posted: Array<{ n: number; offset: number }> = [];
      const take = async (upTo: number) => {
        while (posted.length === 0 || posted[posted.length - 1].n < upTo) {
          const f = await frame();
          if (f.action === "history_recovery") {
            assert.equal(f.payload.recovered, true, `not recovered: ${JSON.stringify(f)}`);
            continue;
          }
          assert.equal(f.action, "posted", JSON.stringify(f));
          posted.push({
            n: f.payload.n as number,
            offset: (f.position as { offset: number }).offset,
          });
        }
      };
      for (let n = 1; n <= 10; n++) await send(n);
      await take(10);
      // Replication is asynchronous: what the master had not passed on would be lost with it.
      await replicated(await cluster.masterOf(`${prefix}:group:${room}`));
      const killed = await cluster.killMaster(`${prefix}:group:${room}`);
      assert.notEqual(await cluster.masterOf(`${prefix}:group:${room}`), killed);
      // Sent while the app's shard subscription moves to the promoted replica (a retried
      // append may append twice: a second offset for one n, never a hole).
      for (let n = 11; n <= 30; n++) await eventually(() => send(n), 20_000);
      await take(30);
      const offsets = posted.map((p) => p.offset);
      assert.deepEqual(offsets, offsets.map((_, i) => i + 1), "every offset once, in order");
      const ns = [...new Set(posted.map((p) => p.n))];
      assert.deepEqual(ns, Array.from({ length: 30 }, (_, i) => i + 1), "every message");
    } finally {
      layers.unregister(alias);
      await Promise.all([layer.close(), sender.close()]);
    }
  },
});
