/** Presence on the in-memory backend: the contract, the batching, and the consumer opt-in. */
import {
  App,
  assert,
  Consumer,
  DiffMerge,
  InMemoryPresence,
  type MessageOf,
  presenceBackends,
  type PresenceDiff,
  type PresenceDiffMessage,
  PresenceLimitError,
  type PresenceOptions,
  type PresenceReply,
  Topic,
  WebsocketCommunicator,
} from "./deps.ts";
import { presenceEventsSuite } from "./events_suite.ts";

Deno.test("memory backend: three tabs are one key with three metas; only the last leave is a leave", async () => {
  const p = new InMemoryPresence();
  const diffs: PresenceDiff[] = [];
  const stop = await p.subscribe("room", (d) => diffs.push(d));
  await p.track("room", "alice", "t1", { tab: 1 });
  await p.track("room", "alice", "t2", { tab: 2 });
  await p.track("room", "alice", "t3", { tab: 3 });
  await p.track("room", "bob", "b1", {});
  assert.deepEqual(await p.stats("room"), { keys: 2, connections: 4 });
  const list = await p.list("room");
  assert.deepEqual(list.entries.alice, [{ tab: 1 }, { tab: 2 }, { tab: 3 }]);
  assert.equal(list.truncated, false);
  assert.deepEqual((await p.list("room", 1)).truncated, true);
  await p.untrack("room", "alice", "t1");
  await p.untrack("room", "alice", "t2");
  assert.deepEqual(diffs.map((d) => [Object.keys(d.joins), Object.keys(d.leaves)]), [
    [["alice"], []],
    [["bob"], []],
  ], "closing two of three tabs emits no leave");
  await p.untrack("room", "alice", "t3");
  assert.deepEqual(diffs.at(-1), { group: "room", joins: {}, leaves: { alice: [{ tab: 3 }] } });
  await p.untrack("room", "alice", "t3"); // idempotent
  assert.deepEqual(await p.stats("room"), { keys: 1, connections: 1 });
  // A meta update (same ref) is no join.
  await p.track("room", "bob", "b1", { away: true });
  assert.equal(diffs.length, 3);
  assert.deepEqual((await p.list("room")).entries, { bob: [{ away: true }] });
  await stop();
  await p.untrack("room", "bob", "b1");
  assert.equal(diffs.length, 3, "unsubscribed");
  assert.equal(p.groupCount, 0, "an empty group is forgotten");
  await p.close();
});

Deno.test("memory backend: bounds on keys, refs, metas and list limits", async () => {
  const p = new InMemoryPresence();
  await assert.rejects(p.track("room", "", "r", {}), PresenceLimitError);
  await assert.rejects(p.track("room", "k".repeat(257), "r", {}), PresenceLimitError);
  await assert.rejects(p.track("room", "k", "a|b", {}), PresenceLimitError);
  await assert.rejects(p.track("room", "k", "r", { big: "x".repeat(3000) }), PresenceLimitError);
  await assert.rejects(p.track("room", "k", "r", [] as never), PresenceLimitError);
  await assert.rejects(p.track("bad group!", "k", "r", {}), /Group/);
  await assert.rejects(p.list("room", 0), PresenceLimitError);
  await p.close();
  await assert.rejects(p.track("room", "k", "r", {}), /closed/);
});

Deno.test("DiffMerge: nets the changes of a window (join+leave cancels, leave+join is both)", () => {
  const m = new DiffMerge();
  const j = (k: string, v = 1) => ({ group: "g", joins: { [k]: [{ v }] }, leaves: {} });
  const l = (k: string, v = 1) => ({ group: "g", joins: {}, leaves: { [k]: [{ v }] } });
  m.add(j("a"));
  m.add(l("a")); // transient: not reported
  m.add(l("b"));
  m.add(j("b", 2)); // left and came back
  m.add(j("c"));
  m.add(l("d"));
  assert.deepEqual(m.take("g"), {
    group: "g",
    joins: { b: [{ v: 2 }], c: [{ v: 1 }] },
    leaves: { b: [{ v: 1 }], d: [{ v: 1 }] },
  });
  assert.ok(m.empty);
  for (let i = 0; i <= 1000; i++) m.add(j(`k${i}`));
  assert.deepEqual(m.take("g"), { group: "g", joins: {}, leaves: {}, resync: true });
});

type Reply = MessageOf<typeof PresenceReply>;
type Diff = MessageOf<typeof PresenceDiffMessage>;

class Room extends Consumer<never, "room"> {
  static override presence: PresenceOptions<Room> = {
    key: (c) => c.query.get("user") ?? "anon",
    meta: (c) => ({ tab: c.query.get("tab") }),
    diffs: true,
    intervalMs: 50,
  };
  override async postAuthentication(): Promise<void> {
    await this.joinGroup(`room.${this.params.room}`);
  }
}

Deno.test("consumer opt-in: tracked on connect, batched diffs, presence request, untracked on close", async () => {
  const app = new App().ws("/ws/room/:room", Room);
  const url = (user: string, tab: string) => `/ws/room/a?user=${user}&tab=${tab}`;
  const alice = await WebsocketCommunicator.connect(app, url("alice", "1"));
  // Its own join comes as a diff.
  await alice.assertReceives({
    action: "presence_diff",
    payload: { group: "room.a", joins: { alice: [{ tab: "1" }] }, leaves: {} },
  });
  const bob1 = await WebsocketCommunicator.connect(app, url("bob", "1"));
  const bob2 = await WebsocketCommunicator.connect(app, url("bob", "2"));
  await alice.assertReceives({
    action: "presence_diff",
    payload: { group: "room.a", joins: { bob: [{ tab: "1" }] }, leaves: {} },
  });
  // The full list, through the built-in request (the ref is echoed).
  await alice.sendJson({ action: "presence", payload: { group: "room.a" }, ref: "r1" });
  const reply = await alice.assertReceives("presence");
  assert.equal(reply.ref, "r1");
  assert.deepEqual(reply.payload, {
    group: "room.a",
    entries: { alice: [{ tab: "1" }], bob: [{ tab: "1" }, { tab: "2" }] },
    truncated: false,
    stats: { keys: 2, connections: 3 },
  });
  // One of bob's two tabs closes: no leave. The other: a leave.
  await bob1.disconnect();
  await alice.sendJson({ action: "presence", payload: { group: "room.a" } });
  assert.deepEqual((await alice.assertReceives<Reply>("presence")).payload.stats, {
    keys: 2,
    connections: 2,
  });
  await bob2.disconnect();
  const left = await alice.assertReceives("presence_diff");
  assert.deepEqual(left.payload, { group: "room.a", joins: {}, leaves: { bob: [{ tab: "2" }] } });
  // A group it is not in is refused; bad payloads get validation errors.
  await alice.sendJson({ action: "presence", payload: { group: "room.b" } });
  const refused = await alice.assertReceives<{ action: "error"; payload: { reason: string } }>(
    "error",
  );
  assert.equal(refused.payload.reason, "presence_refused");
  await alice.sendJson({ action: "presence", payload: { group: "room.a", limit: 1e9 } });
  await alice.assertReceives("error");
  await alice.disconnect();
  assert.deepEqual(await presenceBackends.get().stats("room.a"), { keys: 0, connections: 0 });
});

Deno.test("batching: 200 joins within one interval reach a watcher as at most a few frames", async () => {
  class Hall extends Consumer {
    static override groups = ["hall"];
    static override presence: PresenceOptions = { diffs: true, intervalMs: 200 };
  }
  const app = new App().ws("/ws/hall", Hall);
  const watcher = await WebsocketCommunicator.connect(app, "/ws/hall");
  await watcher.assertReceives("presence_diff"); // its own join
  const backend = presenceBackends.get();
  for (let i = 0; i < 200; i++) await backend.track("hall", `u${i}`, `r${i}`, {});
  const seen = new Set<string>();
  let frames = 0;
  while (seen.size < 200) {
    const f = await watcher.assertReceives<Diff>("presence_diff");
    frames++;
    for (const k of Object.keys(f.payload.joins)) seen.add(k);
  }
  assert.ok(frames <= 2, `${frames} frames for 200 joins`);
  for (let i = 0; i < 200; i++) await backend.untrack("hall", `u${i}`, `r${i}`);
  await watcher.disconnect();
});

Deno.test("this.track / presence / presenceStats without static presence; no presence action then", async () => {
  let stats: unknown;
  class Manual extends Consumer {
    static override groups = ["manual"];
    override async postAuthentication() {
      await this.track("me", { role: "admin" });
      stats = await this.presenceStats("manual");
      assert.deepEqual((await this.presence("manual")).entries, { me: [{ role: "admin" }] });
    }
  }
  const app = new App().ws("/ws/m", Manual);
  const c = await WebsocketCommunicator.connect(app, "/ws/m");
  await c.sendJson({ action: "presence", payload: { group: "manual" } });
  const unknown = await c.assertReceives("error");
  assert.match(JSON.stringify(unknown.payload), /presence/);
  assert.deepEqual(stats, { keys: 1, connections: 1 });
  await c.disconnect();
  assert.deepEqual(await presenceBackends.get().stats("manual"), { keys: 0, connections: 0 });
});

Deno.test("topic opt-in: subscriptions tracked in the topic's group, diffs and requests carry the topic", async () => {
  class DocTopic extends Topic {
    static override pattern = "doc:{id}";
    static override presence: PresenceOptions<DocTopic> = {
      key: (t) => t.consumer.query.get("user") ?? "anon",
      diffs: true,
      intervalMs: 20,
    };
  }
  class Hub extends Consumer {
    static override topics = [DocTopic];
  }
  const app = new App().ws("/ws/hub", Hub);
  const ann = await WebsocketCommunicator.connect(app, "/ws/hub?user=ann");
  const ben = await WebsocketCommunicator.connect(app, "/ws/hub?user=ben");
  await ann.subscribe("doc:1");
  const own = await ann.assertReceives<Diff>("presence_diff");
  assert.equal(own.topic, "doc:1");
  assert.deepEqual(own.payload.joins, { ann: [{}] });
  await ben.subscribe("doc:1");
  const joined = await ann.assertReceives<Diff>("presence_diff");
  assert.deepEqual(Object.keys(joined.payload.joins), ["ben"]);
  await ann.sendJson({ action: "presence", payload: {}, topic: "doc:1", version: 1, ref: "q" });
  const reply = await ann.assertReceives<Reply>("presence");
  assert.equal(reply.topic, "doc:1");
  assert.deepEqual(reply.payload.stats, { keys: 2, connections: 2 });
  assert.equal(reply.payload.group, DocTopic.groupName("doc:1"));
  await ben.unsubscribe("doc:1");
  const left = await ann.assertReceives<Diff>("presence_diff");
  assert.deepEqual(Object.keys(left.payload.leaves), ["ben"]);
  await ann.disconnect();
  await ben.disconnect();
  assert.deepEqual(await presenceBackends.get().stats(DocTopic.groupName("doc:1")), {
    keys: 0,
    connections: 0,
  });
});

Deno.test("a track() after the disconnect tracks nothing (no entry left behind)", async () => {
  let consumer: Consumer | undefined;
  class Late extends Consumer {
    static override groups = ["late"];
    static override presence: PresenceOptions = {};
    override postAuthentication() {
      consumer = this;
    }
  }
  const app = new App().ws("/ws/late", Late);
  const c = await WebsocketCommunicator.connect(app, "/ws/late");
  assert.deepEqual(await presenceBackends.get().stats("late"), { keys: 1, connections: 1 });
  await c.disconnect();
  await consumer!.track("ghost", {}, "late");
  assert.deepEqual(await presenceBackends.get().stats("late"), { keys: 0, connections: 0 });
});

Deno.test("the presence request is bounded: limit truncates, more than 32 watched groups is presence_limit", async () => {
  class Big extends Consumer {
    static override groups = Array.from({ length: 33 }, (_, i) => `big${i}`);
    static override presence: PresenceOptions = { track: false };
  }
  const app = new App().ws("/ws/big", Big);
  const c = await WebsocketCommunicator.connect(app, "/ws/big");
  const backend = presenceBackends.get();
  for (let i = 0; i < 5; i++) await backend.track("big0", `k${i}`, `r${i}`, {});
  await c.sendJson({ action: "presence", payload: { group: "big0", limit: 2 } });
  const page = await c.assertReceives<Reply>("presence");
  assert.equal(Object.keys(page.payload.entries).length, 2);
  assert.equal(page.payload.truncated, true);
  assert.deepEqual(page.payload.stats, { keys: 5, connections: 5 });
  for (let i = 0; i < 32; i++) {
    await c.sendJson({ action: "presence", payload: { group: `big${i}`, diffs: true } });
    await c.assertReceives("presence");
  }
  await c.sendJson({ action: "presence", payload: { group: "big32", diffs: true } });
  const refused = await c.assertReceives<{ action: "error"; payload: { reason: string } }>("error");
  assert.equal(refused.payload.reason, "presence_limit");
  await c.sendJson({ action: "presence", payload: { group: "big0", nope: 1 } });
  await c.assertReceives("error");
  await c.disconnect();
  for (let i = 0; i < 5; i++) await backend.untrack("big0", `k${i}`, `r${i}`);
});

presenceEventsSuite({
  name: "InMemoryPresence",
  ignore: false,
  counts: "each change",
  open: () => {
    const p = new InMemoryPresence();
    return Promise.resolve({ a: p, b: p, [Symbol.asyncDispose]: () => p.close() });
  },
});
