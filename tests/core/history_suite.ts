/**
 * History and recovery through a whole app (docs/recovery.md), on any layer: the frames of a
 * consumer and a topic with `static history`, a reconnect that recovers, and the cases that
 * cannot. Run by history_test.ts (memory) and history_redis_test.ts (both Redis layers).
 */
import { z } from "zod";
import {
  App,
  assert,
  type ChannelLayer,
  Consumer,
  layers,
  message,
  type MessageOf,
  PositionTracker,
  Topic,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";

const Post = message("post", z.object({ n: z.number() }));
const Posted = message("posted", z.object({ n: z.number() }));

type Frame = Record<string, unknown> & { action: string; payload: Record<string, unknown> };

/** Registers the history tests on the layer `make` returns. */
export function historySuite(
  name: string,
  make: () => ChannelLayer | Promise<ChannelLayer>,
  options: { skip?: string; lose?: (layer: ChannelLayer) => Promise<void> } = {},
): void {
  let counter = 0;
  const setup = async () => {
    const alias = `history-${name.replace(/\W/g, "-")}-${counter++}`;
    const layer = await make();
    layers.register(alias, layer);
    const room = `room-${crypto.randomUUID().slice(0, 8)}`;
    class Chat extends Consumer {
      static override layer = alias;
      static override groups = [room];
      static override history = { size: 50, ttlMs: 60_000 };
      static resyncs: string[] = [];
      @wsHandler(Post)
      async handlePost(m: MessageOf<typeof Post>) {
        await this.broadcastMessage(Posted.create(m.payload));
      }
      override onResync(reason: string) {
        Chat.resyncs.push(reason);
      }
    }
    class Plain extends Consumer {
      static override layer = alias;
      static override groups = [room];
    }
    class Feed extends Topic {
      static override pattern = "feed:{id}";
      static override layer = alias;
      static override history = { size: 50, ttlMs: 60_000 };
      static override passthroughEvents = [Posted];
    }
    class FeedHost extends Consumer {
      static override layer = alias;
      static override topics = [Feed];
    }
    const app = new App().ws("/chat", Chat).ws("/plain", Plain).ws("/feed", FeedHost);
    return {
      app,
      room,
      layer,
      Chat,
      Feed,
      async [Symbol.asyncDispose]() {
        layers.unregister(alias);
        await layer.close();
      },
    };
  };
  const test = (title: string, fn: () => Promise<void>, ignore = false) =>
    Deno.test({ name: `${name}: history: ${title}`, ignore: !!options.skip || ignore, fn });
  const frame = async (comm: WebsocketCommunicator) =>
    await comm.receiveJson({ timeout: 5000 }) as Frame;
  const recoverPath = (group: string, position: unknown) =>
    `/chat?recover=${encodeURIComponent(JSON.stringify({ groups: { [group]: position } }))}`;

  test("a joined history group starts with history_position; broadcasts carry their position", async () => {
    await using s = await setup();
    await using a = await WebsocketCommunicator.connect(s.app, "/chat");
    const start = await frame(a);
    assert.equal(start.action, "history_position");
    assert.equal(start.payload.group, s.room);
    const { epoch, offset } = start.payload.position as { epoch: string; offset: number };
    assert.equal(offset, 0);
    await a.sendMessage(Post.create({ n: 1 }));
    assert.deepEqual(await frame(a), {
      action: "posted",
      payload: { n: 1 },
      position: { group: s.room, offset: 1, epoch },
    });
  });

  test("a consumer without history in the same group gets today's frames, byte for byte", async () => {
    await using s = await setup();
    await using plain = await WebsocketCommunicator.connect(s.app, "/plain");
    await using a = await WebsocketCommunicator.connect(s.app, "/chat");
    await frame(a); // history_position
    await a.sendMessage(Post.create({ n: 7 }));
    // The history member writes the shared message first (its own send): the plain one's text
    // must still be today's.
    const mine = await frame(a);
    assert.equal(mine.action, "posted");
    assert.equal((mine.position as { offset: number }).offset, 1, "the history member's position");
    assert.deepEqual(await frame(plain), { action: "posted", payload: { n: 7 } });
    const late = await WebsocketCommunicator.connect(s.app, "/plain");
    await a.sendMessage(Post.create({ n: 8 }));
    assert.equal(((await frame(a)).position as { offset: number }).offset, 2);
    assert.deepEqual(await frame(plain), { action: "posted", payload: { n: 8 } });
    assert.deepEqual(await frame(late), { action: "posted", payload: { n: 8 } });
    await late.disconnect();
  });

  test("a reconnect with the last position replays what was missed, in order, then history_recovery", async () => {
    await using s = await setup();
    await using sender = await WebsocketCommunicator.connect(s.app, "/chat");
    await frame(sender);
    const client = await WebsocketCommunicator.connect(s.app, "/chat");
    const start = (await frame(client)).payload.position as { epoch: string; offset: number };
    await sender.sendMessage(Post.create({ n: 1 }));
    const seen = await frame(client);
    assert.equal((seen.position as { offset: number }).offset, 1);
    await frame(sender);
    await client.drop();
    for (let n = 2; n <= 6; n++) await sender.sendMessage(Post.create({ n }));
    for (let n = 2; n <= 6; n++) await frame(sender); // all sent
    await using back = await WebsocketCommunicator.connect(
      s.app,
      recoverPath(s.room, { offset: 1, epoch: start.epoch }),
    );
    for (let n = 2; n <= 6; n++) {
      assert.deepEqual(await frame(back), {
        action: "posted",
        payload: { n },
        position: { group: s.room, offset: n, epoch: start.epoch },
      });
    }
    assert.deepEqual(await frame(back), {
      action: "history_recovery",
      payload: {
        group: s.room,
        recovered: true,
        replayed: 5,
        position: { offset: 6, epoch: start.epoch },
      },
    });
    await sender.sendMessage(Post.create({ n: 7 }));
    assert.deepEqual((await frame(back)).payload, { n: 7 });
    assert.deepEqual(s.Chat.resyncs, []);
  });

  test("the testing kit drives a recovery: PositionTracker, drop(), connect(tracker.path())", async () => {
    await using s = await setup();
    await using sender = await WebsocketCommunicator.connect(s.app, "/chat");
    await frame(sender);
    const tracker = new PositionTracker();
    const client = await WebsocketCommunicator.connect(s.app, "/chat");
    tracker.track(await frame(client));
    await sender.sendMessage(Post.create({ n: 1 }));
    tracker.track(await frame(client));
    await client.drop();
    await sender.sendMessage(Post.create({ n: 2 }));
    await frame(sender);
    await frame(sender);
    assert.equal(tracker.groups.get(s.room)?.offset, 1);
    await using back = await WebsocketCommunicator.connect(s.app, tracker.path("/chat"));
    assert.deepEqual((await frame(back)).payload, { n: 2 });
    const outcome = await frame(back);
    assert.equal(outcome.action, "history_recovery");
    assert.deepEqual(outcome.payload.replayed, 1);
  });

  test("a client that had received nothing recovers from its history_position", async () => {
    await using s = await setup();
    await using sender = await WebsocketCommunicator.connect(s.app, "/chat");
    await frame(sender);
    const client = await WebsocketCommunicator.connect(s.app, "/chat");
    const start = (await frame(client)).payload.position;
    await client.drop();
    await sender.sendMessage(Post.create({ n: 1 }));
    await frame(sender);
    await using back = await WebsocketCommunicator.connect(s.app, recoverPath(s.room, start));
    assert.deepEqual((await frame(back)).payload, { n: 1 });
    const outcome = await frame(back);
    assert.equal(outcome.action, "history_recovery");
    assert.equal(outcome.payload.recovered, true);
  });

  test("another epoch is not recovered: history_recovery false with the reason, onResync, then the new history", async () => {
    await using s = await setup();
    await using sender = await WebsocketCommunicator.connect(s.app, "/chat");
    const start = (await frame(sender)).payload.position as { epoch: string; offset: number };
    await sender.sendMessage(Post.create({ n: 1 }));
    await frame(sender);
    await using back = await WebsocketCommunicator.connect(
      s.app,
      recoverPath(s.room, { offset: 3, epoch: "gone" }),
    );
    assert.deepEqual(await frame(back), {
      action: "history_recovery",
      payload: {
        group: s.room,
        recovered: false,
        reason: "epoch_changed",
        position: { offset: 0, epoch: start.epoch },
      },
    });
    // The stream goes on from the start of the history it did not know: all of it follows.
    assert.deepEqual(await frame(back), {
      action: "posted",
      payload: { n: 1 },
      position: { group: s.room, offset: 1, epoch: start.epoch },
    });
    assert.deepEqual(s.Chat.resyncs, ["history: epoch_changed"]);
  });

  test("more missed than the history keeps is trimmed", async () => {
    await using s = await setup();
    await using sender = await WebsocketCommunicator.connect(s.app, "/chat");
    const start = (await frame(sender)).payload.position;
    for (let n = 1; n <= 60; n++) await sender.sendMessage(Post.create({ n }));
    for (let n = 1; n <= 60; n++) await frame(sender);
    await using back = await WebsocketCommunicator.connect(s.app, recoverPath(s.room, start));
    const outcome = await frame(back);
    assert.equal(outcome.action, "history_recovery");
    assert.equal(outcome.payload.recovered, false);
    assert.equal(outcome.payload.reason, "trimmed");
    assert.equal((outcome.payload.position as { offset: number }).offset, 60);
  });

  test("a malformed recover parameter is answered with invalid_recover", async () => {
    await using s = await setup();
    await using back = await WebsocketCommunicator.connect(s.app, "/chat?recover=%7Bnope");
    const error = await frame(back);
    assert.equal(error.action, "error");
    assert.equal(error.payload.reason, "invalid_recover");
    assert.equal((await frame(back)).action, "history_position");
  });

  test("a topic with history: position on its frames, recovery on re-subscribe", async () => {
    await using s = await setup();
    await using client = await WebsocketCommunicator.connect(s.app, "/feed");
    await client.subscribe("feed:1");
    const start = await frame(client);
    assert.equal(start.action, "history_position");
    assert.equal(start.topic, "feed:1");
    const { epoch } = start.payload.position as { epoch: string };
    await s.Feed.broadcast("feed:1", Posted.create({ n: 1 }));
    assert.deepEqual(await frame(client), {
      action: "posted",
      payload: { n: 1 },
      version: 1,
      topic: "feed:1",
      position: { offset: 1, epoch },
    });
    await client.drop();
    await s.Feed.broadcast("feed:1", Posted.create({ n: 2 }));
    await s.Feed.broadcast("feed:1", Posted.create({ n: 3 }));
    const recover = { topics: { "feed:1": { offset: 1, epoch } } };
    await using back = await WebsocketCommunicator.connect(
      s.app,
      `/feed?recover=${encodeURIComponent(JSON.stringify(recover))}`,
    );
    await back.subscribe("feed:1");
    for (const n of [2, 3]) {
      const f = await frame(back);
      assert.deepEqual(f.payload, { n });
      assert.deepEqual(f.position, { offset: n, epoch });
    }
    const outcome = await frame(back);
    assert.equal(outcome.action, "history_recovery");
    assert.equal(outcome.topic, "feed:1");
    assert.deepEqual(outcome.payload, {
      recovered: true,
      replayed: 2,
      position: { offset: 3, epoch },
    });
  });

  test(
    "a lost history: a connected client is told at the next message (epoch_changed)",
    async () => {
      await using s = await setup();
      await using client = await WebsocketCommunicator.connect(s.app, "/chat");
      await frame(client);
      await using sender = await WebsocketCommunicator.connect(s.app, "/chat");
      await frame(sender);
      await sender.sendMessage(Post.create({ n: 1 }));
      const first = await frame(client);
      await frame(sender);
      await options.lose!(s.layer);
      await sender.sendMessage(Post.create({ n: 2 }));
      const told = await frame(client);
      assert.equal(told.action, "history_recovery");
      assert.equal(told.payload.recovered, false);
      assert.equal(told.payload.reason, "epoch_changed");
      const next = await frame(client);
      assert.deepEqual(next.payload, { n: 2 });
      assert.notEqual(
        (next.position as { epoch: string }).epoch,
        (first.position as { epoch: string }).epoch,
      );
      // The sender is a member too: told as well, before its own message.
      assert.equal((await frame(sender)).action, "history_recovery");
      assert.deepEqual((await frame(sender)).payload, { n: 2 });
      assert.deepEqual(s.Chat.resyncs, ["history: epoch_changed", "history: epoch_changed"]);
    },
    !options.lose,
  );
}
