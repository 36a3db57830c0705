/**
 * Closing during a subscribe or a join leaves no membership behind (attack finding 1), and a
 * closed connection's channel is released from its layer (attack finding 2), on a layer whose
 * `groupAdd` takes time (as on Redis): a wrapper around the in-memory layer delays it.
 */
import { z } from "zod";
import {
  App,
  assert,
  type ChannelLayer,
  ClosedError,
  Consumer,
  InMemoryChannelLayerForTests,
  type LayerMessage,
  layers,
  message,
  type MessageOf,
  type ReceiveOptions,
  serveForTests,
  Topic,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";

const ALIAS = "close-race";

/** The in-memory layer, with every `groupAdd` delayed by `delayMs` (or held until `release`). */
class SlowAddLayer implements ChannelLayer {
  readonly inner = new InMemoryChannelLayerForTests();
  readonly extensions = this.inner.extensions;
  readonly #inFlight = new Set<Promise<void>>();
  /** Set while a test holds every groupAdd (resolved by the test). */
  gate: PromiseWithResolvers<void> | undefined;
  /** Resolves when the next groupAdd starts. */
  started: PromiseWithResolvers<void> = Promise.withResolvers();

  constructor(readonly delayMs = 20) {}

  /** Set while a test holds every newChannel; `channelStarted` resolves when one starts. */
  channelGate: PromiseWithResolvers<void> | undefined;
  channelStarted: PromiseWithResolvers<void> = Promise.withResolvers();
  newChannel(prefix?: string): Promise<string> {
    this.channelStarted.resolve();
    if (!this.channelGate) return this.inner.newChannel(prefix);
    const made = this.channelGate.promise.then(() => this.inner.newChannel(prefix));
    const done = made.then(() => {});
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
    return made;
  }
  send(channel: string, message: LayerMessage): Promise<void> {
    return this.inner.send(channel, message);
  }
  receive(channel: string, options?: ReceiveOptions): Promise<LayerMessage> {
    return this.inner.receive(channel, options);
  }
  groupAdd(group: string, channel: string): Promise<void> {
    this.started.resolve();
    const wait = this.gate
      ? this.gate.promise
      : new Promise<void>((r) => setTimeout(r, this.delayMs));
    const added = wait.then(() => this.inner.groupAdd(group, channel));
    this.#inFlight.add(added);
    void added.finally(() => this.#inFlight.delete(added));
    return added;
  }
  groupDiscard(group: string, channel: string): Promise<void> {
    return this.inner.groupDiscard(group, channel);
  }
  groupSend(group: string, message: LayerMessage): Promise<void> {
    return this.inner.groupSend(group, message);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  /** Resolves once no groupAdd is in flight and what followed the last ones has run. */
  async settled(): Promise<void> {
    while (this.#inFlight.size) {
      await Promise.allSettled([...this.#inFlight]);
      // What a finished groupAdd resumes (a discard) runs in the next few microtasks.
      await new Promise((r) => setTimeout(r, 0));
    }
  }
}

const JoinGroup = message("join_group", z.object({ group: z.string() }));
const Left = message("left", z.object({ id: z.string() }));

class Room extends Topic {
  static override pattern = "room:{id}";
  static override layer = ALIAS;
}

/** Joins "lobby" on connect, joins groups on request, and says goodbye to its groups on disconnect. */
class Host extends Consumer {
  static override layer = ALIAS;
  static override groups = ["lobby"];
  static override topics = [Room];
  static override sendCompletion = true;
  static override broadcasts = [Left];
  static disconnects = 0;
  static allGone: PromiseWithResolvers<void> = Promise.withResolvers();
  static expected = Infinity;

  @wsHandler(JoinGroup)
  async handleJoin(m: MessageOf<typeof JoinGroup>): Promise<void> {
    await this.joinGroup(m.payload.group);
  }

  override async onDisconnect(): Promise<void> {
    // A goodbye to its own groups (as the tutorial's chat does): it lands on its own channel too.
    await this.broadcastMessage(Left.create({ id: "x" })).catch(() => {});
    if (++Host.disconnects >= Host.expected) Host.allGone.resolve();
  }
}

function fresh(delayMs = 20): SlowAddLayer {
  const layer = new SlowAddLayer(delayMs);
  layers.register(ALIAS, layer);
  return layer;
}

Deno.test("close during a subscribe: the topic group keeps no member", async () => {
  const layer = fresh();
  const app = new App().ws("/h", Host);
  const comm = await WebsocketCommunicator.connect(app, "/h");
  layer.gate = Promise.withResolvers();
  layer.started = Promise.withResolvers();
  await comm.sendJson({ action: "subscribe", topic: "room:a" });
  await layer.started.promise; // the subscribe waits on groupAdd
  await comm.disconnect();
  layer.gate.resolve();
  await layer.settled();
  assert.deepEqual(layer.inner.groupMembers(Room.groupName("room:a")), []);
  assert.deepEqual(layer.inner.groupMembers("lobby"), []);
  await app.close();
});

Deno.test("close during a join: the group keeps no member", async () => {
  const layer = fresh();
  const app = new App().ws("/h", Host);
  const comm = await WebsocketCommunicator.connect(app, "/h");
  layer.gate = Promise.withResolvers();
  layer.started = Promise.withResolvers();
  await comm.sendMessage(JoinGroup.create({ group: "extra" }));
  await layer.started.promise;
  await comm.disconnect();
  layer.gate.resolve();
  await layer.settled();
  assert.deepEqual(layer.inner.groupMembers("extra"), []);
  assert.deepEqual(layer.inner.groupMembers("lobby"), []);
  await app.close();
});

Deno.test("closed connections' channels are released, even when goodbyes land on them", async () => {
  const layer = fresh(0);
  const app = new App().ws("/h", Host);
  for (let round = 0; round < 5; round++) {
    const comms = await Promise.all(
      Array.from({ length: 20 }, () => WebsocketCommunicator.connect(app, "/h")),
    );
    await Promise.all(comms.map((c) => c.disconnect()));
  }
  await layer.settled();
  assert.equal(layer.inner.channelCount, 0, "channels still held by the layer");
  await app.close();
});

Deno.test("a channel made after its connection closed is released", async () => {
  const layer = fresh();
  Host.disconnects = 0;
  Host.expected = 1;
  Host.allGone = Promise.withResolvers();
  const app = new App().ws("/h", Host);
  await using server = await serveForTests(app);
  layer.channelGate = Promise.withResolvers();
  const ws = new WebSocket(`${server.url}/h`);
  const closed = new Promise((resolve) => ws.onclose = resolve);
  await layer.channelStarted.promise; // the connection waits for its channel
  ws.close();
  await closed;
  await Host.allGone.promise;
  await app.close({ closeLayers: false });
  layer.channelGate.resolve();
  await layer.settled();
  assert.equal(layer.inner.channelCount, 0, "the late channel is still held");
});

Deno.test("a storm of 300 connect/subscribe/close over real sockets leaves no member and no channel", async () => {
  const layer = fresh(20);
  const N = 300;
  Host.disconnects = 0;
  Host.expected = N;
  Host.allGone = Promise.withResolvers();
  const app = new App().ws("/h", Host);
  await using server = await serveForTests(app);
  await Promise.all(Array.from({ length: N }, (_, i) =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(`${server.url}/h`);
      ws.onopen = () => {
        ws.send(JSON.stringify({ action: "subscribe", topic: `room:r${i}` }));
        ws.send(JSON.stringify({ action: "join_group", payload: { group: `g${i % 7}` } }));
        ws.close();
      };
      ws.onerror = () => {};
      ws.onclose = () => resolve();
    })));
  await Host.allGone.promise; // every onDisconnect has begun
  await app.close({ closeLayers: false }); // and every disconnect has ended
  await layer.settled();
  const left: string[] = [];
  for (let i = 0; i < N; i++) left.push(...layer.inner.groupMembers(Room.groupName(`room:r${i}`)));
  for (let i = 0; i < 7; i++) left.push(...layer.inner.groupMembers(`g${i}`));
  left.push(...layer.inner.groupMembers("lobby"));
  assert.equal(left.length, 0, `${left.length} memberships left after ${N} closes`);
  assert.equal(app.connectionCount, 0);
  assert.equal(layer.inner.channelCount, 0, "channels still held by the layer");
});

Deno.test("a receive signal aborted with ClosedError releases the channel; any other reason keeps its messages", async () => {
  const layer = new InMemoryChannelLayerForTests();
  const kept = await layer.newChannel("kept");
  const plain = new AbortController();
  const waiting = layer.receive(kept, { signal: plain.signal });
  plain.abort(new Error("timeout"));
  await assert.rejects(waiting, /timeout/);
  await layer.send(kept, { type: "m" });
  const other = new AbortController();
  assert.deepEqual(await layer.receive(kept, { signal: other.signal }), { type: "m" });
  other.abort(new Error("later"));
  await layer.send(kept, { type: "m2" });
  assert.equal(layer.channelCount, 1, "a plain abort keeps the channel and its messages");

  // The connection's case: the loop is handling a message (no wait pending) when it closes.
  const gone = await layer.newChannel("gone");
  const closing = new AbortController();
  await layer.send(gone, { type: "one" });
  await layer.send(gone, { type: "two" });
  assert.deepEqual(await layer.receive(gone, { signal: closing.signal }), { type: "one" });
  closing.abort(new ClosedError("connection closed"));
  assert.equal(layer.channelCount, 1, "the closed receiver's channel and its message are gone");
  await assert.rejects(layer.receive(gone, { signal: closing.signal }), ClosedError);
  assert.equal(layer.channelCount, 1);
  await layer.close();
});

Deno.test("a group message that reaches a released channel is dropped, not parked in a new mailbox", async () => {
  const layer = new InMemoryChannelLayerForTests();
  const channel = await layer.newChannel("late");
  await layer.groupAdd("g", channel);
  const closing = new AbortController();
  const waiting = layer.receive(channel, { signal: closing.signal });
  closing.abort(new ClosedError("connection closed"));
  await assert.rejects(waiting, ClosedError);
  assert.equal(layer.channelCount, 0);
  // The member's discard has not run yet: a goodbye from another member reaches it.
  await layer.groupSend("g", { type: "goodbye" });
  await layer.send(channel, { type: "direct" });
  assert.equal(layer.channelCount, 0, "a released channel got a mailbox back");
  await layer.groupDiscard("g", channel);
  await layer.close();
});
