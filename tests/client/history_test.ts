/**
 * The typed client and history (docs/recovery.md) over real sockets: it tracks the positions of
 * its groups and topics, sends them back on reconnect by itself, and reports the outcome through
 * `onRecovery`. The network cut is a TCP proxy between the client and the server.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { createClient, type RecoveryOutcome } from "../../client/mod.ts";
import { InMemoryChannelLayer } from "../../adapters/memory/mod.ts";
import { App, Consumer, layers, message, type MessageOf, Topic, wsHandler } from "../../mod.ts";
import { TcpProxy } from "../../testing/tcp_proxy.ts";
import { next, serveOn } from "./serve.ts";

const Post = message("post", z.object({ n: z.number() }));
const Posted = message("posted", z.object({ n: z.number() }));
const fast = { initialDelayMs: 20, maxDelayMs: 100, jitter: false };

class HistoryChat extends Consumer {
  static override layer = "client-history";
  static override groups = ["client-history-room"];
  static override history = { size: 100, ttlMs: 60_000 };
  static override broadcasts = [Posted];
  @wsHandler(Post)
  async handlePost(m: MessageOf<typeof Post>) {
    await this.broadcastMessage(Posted.create(m.payload));
  }
}

class HistoryFeed extends Topic {
  static override pattern = "feed:{id}";
  static override layer = "client-history";
  static override history = { size: 100, ttlMs: 60_000 };
  static override passthroughEvents = [Posted];
}

class FeedHost extends Consumer {
  static override layer = "client-history";
  static override topics = [HistoryFeed];
}

Deno.test("client: a cut client recovers every missed group and topic message by itself, in order, once", async () => {
  const layer = new InMemoryChannelLayer();
  layers.register("client-history", layer);
  const app = new App().ws("/chat", HistoryChat).ws("/feed", FeedHost);
  const server = await serveOn(app);
  const proxy = await TcpProxy.start(server.port);
  const viaProxy = `ws://127.0.0.1:${proxy.url("tcp").split(":").pop()}`;
  const client = createClient(`${viaProxy}/chat`, { reconnect: fast });
  const feeds = createClient(`${viaProxy}/feed`, { reconnect: fast });
  const sender = createClient(`${server.url}/chat`, { reconnect: false });
  try {
    const got: number[] = [];
    const offsets: number[] = [];
    client.on("posted", (m) => {
      got.push((m.payload as { n: number }).n);
      offsets.push(m.position!.offset);
    });
    const feed = feeds.topic("feed:1");
    const fed: number[] = [];
    feed.on("posted", (m) => fed.push((m.payload as { n: number }).n));
    const started = next<{ action: string }>(
      (h) => client.onAny(h),
      (f) => f.action === "history_position",
    );
    await client.opened();
    await started;
    await feed.subscribe();
    await sender.opened();
    sender.send(Post.create({ n: 1 }));
    await HistoryFeed.broadcast("feed:1", Posted.create({ n: 1 }));
    await until(() => got.length === 1 && fed.length === 1);
    assert.equal(client.positions.groups["client-history-room"].offset, 1);
    assert.equal(feeds.positions.topics["feed:1"].offset, 1);

    const down = next<string>((h) => client.onState(h), (s) => s === "reconnecting");
    const feedDown = next<string>((h) => feeds.onState(h), (s) => s === "reconnecting");
    proxy.refuse();
    proxy.cut();
    await down;
    await feedDown;
    for (let n = 2; n <= 30; n++) {
      sender.send(Post.create({ n }));
      await HistoryFeed.broadcast("feed:1", Posted.create({ n }));
    }
    const recovered = next<RecoveryOutcome>((h) => client.onRecovery(h));
    const feedRecovered = next<RecoveryOutcome>((h) => feeds.onRecovery(h));
    proxy.heal();
    const outcome = await recovered;
    assert.equal(outcome.recovered, true);
    assert.equal(outcome.group, "client-history-room");
    const feedOutcome = await feedRecovered;
    assert.equal(feedOutcome.recovered, true);
    assert.equal(feedOutcome.topic, "feed:1");
    await until(() => got.length >= 30 && fed.length >= 30);
    assert.deepEqual(got, range(1, 30));
    assert.deepEqual(offsets, range(1, 30));
    assert.deepEqual(fed, range(1, 30));
    sender.send(Post.create({ n: 31 }));
    await until(() => got.length === 31);
    assert.deepEqual(got, range(1, 31));
  } finally {
    await client.close();
    await feeds.close();
    await sender.close();
    await proxy.close();
    await server.close();
    layers.unregister("client-history");
    await layer.close();
  }
});

Deno.test("client: a history lost while away (another epoch) is reported recovered: false", async () => {
  const layer = new InMemoryChannelLayer();
  layers.register("client-history", layer);
  const app = new App().ws("/chat", HistoryChat);
  const server = await serveOn(app);
  const proxy = await TcpProxy.start(server.port);
  const viaProxy = `ws://127.0.0.1:${proxy.url("tcp").split(":").pop()}`;
  const client = createClient(`${viaProxy}/chat`, { reconnect: fast });
  try {
    const started = next<{ action: string }>(
      (h) => client.onAny(h),
      (f) => f.action === "history_position",
    );
    await started;
    const down = next<string>((h) => client.onState(h), (s) => s === "reconnecting");
    proxy.refuse();
    proxy.cut();
    await down;
    await layer.flush(); // the history is gone: a new epoch
    const recovered = next<RecoveryOutcome>((h) => client.onRecovery(h));
    const at = Date.now();
    proxy.heal();
    const outcome = await recovered;
    assert.equal(outcome.recovered, false);
    assert.equal(outcome.reason, "epoch_changed");
    assert.ok(Date.now() - at < 1000, "told within a second");
  } finally {
    await client.close();
    await proxy.close();
    await server.close();
    layers.unregister("client-history");
    await layer.close();
  }
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Waits for `done` on each macrotask (frames arrive as socket events), failing after 5 s. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("condition not reached within 5 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}
