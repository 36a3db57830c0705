/**
 * Presence on a private 3-master, 3-replica Redis Cluster (started once for this file): every
 * script touches keys of one slot (a cross-slot script would fail with CROSSSLOT), diffs cross
 * two backends over sharded pub/sub, three tabs are one key, and the entries of a SIGKILLed
 * process (groups spread over every master) are swept, their leaves published, within the TTL.
 */
import { App, assert, type PresenceDiff, spawnApp, WebsocketCommunicator } from "./deps.ts";
import { RedisPresence } from "../../adapters/redis/mod.ts";
import { clusterPerFile } from "../helpers/cluster_file.ts";
import { keySlot } from "../../testing/redis_cluster.ts";
import { keySlotOf, PresenceKeys, slotTag } from "../../adapters/redis/presence_keys.ts";
import { SLOT_LEASE_MS, sweepSlots } from "../../adapters/redis/presence_sweep.ts";
import { ClusterClient, makeCluster } from "../../adapters/redis/cluster_client.ts";
import type { RedisClientLike } from "../../adapters/redis/redis_client.ts";

const cluster = clusterPerFile("RedisPresence on Redis Cluster");
const sanitize = { sanitizeOps: true, sanitizeResources: true };
const APP = import.meta.resolve("../fixtures/presence_app.ts");

/** Collects a group's diffs; `until` resolves with the first one `pick` accepts. */
async function watch(backend: RedisPresence, group: string) {
  const diffs: PresenceDiff[] = [];
  const waiters: Array<[(d: PresenceDiff) => boolean, (d: PresenceDiff) => void]> = [];
  const stop = await backend.subscribe(group, (d) => {
    diffs.push(d);
    for (const w of [...waiters]) {
      if (w[0](d)) {
        waiters.splice(waiters.indexOf(w), 1);
        w[1](d);
      }
    }
  });
  return {
    diffs,
    stop,
    /** The first diff `pick` accepts; fails (never hangs) when none came within 10 s. */
    until(pick: (d: PresenceDiff) => boolean): Promise<PresenceDiff> {
      const found = diffs.find(pick);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(entry), 1);
          reject(new Error(`no such diff of ${group} within 10 s; got ${JSON.stringify(diffs)}`));
        }, 10_000);
        const entry: (typeof waiters)[number] = [pick, (d) => {
          clearTimeout(timer);
          resolve(d);
        }];
        waiters.push(entry);
      });
    },
  };
}

Deno.test("presence keys: a slot's tag hashes to the slot; one group's names share a slot", () => {
  for (const slot of [0, 1, 5460, 5461, 10922, 16383]) {
    assert.equal(keySlot(`{${slotTag(slot)}}`), slot);
  }
  assert.equal(keySlotOf("a{room.1}b"), keySlot("{room.1}"));
});

Deno.test({
  name: "RedisPresence (cluster): three tabs, diffs across two backends, list, stats, untrack",
  ignore: cluster.skip !== false,
  ...sanitize,
  fn: async () => {
    const opts = { cluster: { rootNodes: cluster.urls() }, ttlMs: 3000, prefix: "c1" };
    const a = new RedisPresence(opts);
    const b = new RedisPresence(opts);
    // Groups whose slots are on each of the three masters (0-5460, 5461-10922, 10923-16383).
    const groups = ["room.a", "room.b", "room.c", "room.d", "room.e", "room.f"];
    const thirds = new Set(groups.map((g) => Math.floor(keySlot(`{${g}}`) / 5461)));
    assert.equal(thirds.size, 3, "the groups span the three masters");
    try {
      for (const group of groups) {
        const w = await watch(b, group);
        await a.track(group, "alice", "t1", { tab: 1 });
        await a.track(group, "alice", "t2", { tab: 2 });
        await a.track(group, "alice", "t3", { tab: 3 });
        const joined = await w.until((d) => "alice" in d.joins);
        assert.deepEqual(joined, { group, joins: { alice: [{ tab: 1 }] }, leaves: {} });
        assert.deepEqual(await b.stats(group), { keys: 1, connections: 3 });
        const list = await b.list(group);
        assert.deepEqual(list.entries.alice.map((m) => m.tab).sort(), [1, 2, 3], "3 metas");
        assert.equal(list.truncated, false);
        await a.untrack(group, "alice", "t1");
        await a.untrack(group, "alice", "t2");
        await a.track(group, "bob", "b1", { x: [] }); // a marker after the two closes
        await a.untrack(group, "alice", "t3");
        const left = await w.until((d) => "alice" in d.leaves);
        assert.deepEqual(left.leaves, { alice: [{ tab: 3 }] });
        assert.deepEqual(
          w.diffs.map((d) => [Object.keys(d.joins), Object.keys(d.leaves)]),
          [[["alice"], []], [["bob"], []], [[], ["alice"]]],
          "closing two of three tabs published no leave",
        );
        assert.deepEqual((await a.list(group)).entries, { bob: [{ x: [] }] });
        await w.stop();
      }
      for (let i = 0; i < 30; i++) await a.track("room.a", `u${i}`, `r${i}`, {});
      const page = await b.list("room.a", 10);
      assert.equal(Object.keys(page.entries).length, 10);
      assert.equal(page.truncated, true);
    } finally {
      await a.close();
      await b.close();
    }
    const check = new RedisPresence(opts);
    try {
      for (const group of groups) {
        assert.deepEqual(await check.stats(group), { keys: 0, connections: 0 }, "close untracks");
      }
    } finally {
      await check.close();
    }
  },
});

Deno.test({
  name: "RedisPresence (cluster): a second process's diffs arrive; its SIGKILL is swept in TTL",
  // tests/FLAKES.md item 18: it failed 2 of 3 runs (a group's slot was listed after its track
  // script, and the SIGKILL came in between); tests below pin that moment down.
  ignore: cluster.skip !== false,
  ...sanitize,
  fn: async () => {
    const TTL = 2000;
    const local = new RedisPresence({
      cluster: { rootNodes: cluster.urls() },
      ttlMs: TTL,
      prefix: "c2",
    });
    const rooms = ["a", "b", "c", "d", "e", "f"];
    const sockets: WebsocketCommunicator[] = [];
    const client = new App(); // the communicators' app; they connect to the other process
    const watchers = await Promise.all(rooms.map((r) => watch(local, `room.${r}`)));
    try {
      await using other = await spawnApp(APP, {
        REDIS_CLUSTER_URLS: cluster.urls().join(","),
        PRESENCE_TTL_MS: String(TTL),
        PRESENCE_PREFIX: "c2",
        NATS_URL: "", // the app would pick NATS if this process has it set
        PRESENCE_EVENTS: "1",
      });
      const connect = (room: string, user: string, tab: string) =>
        WebsocketCommunicator.connect(
          client,
          `/ws/room/${room}?user=${user}&tab=${tab}`,
          { url: other.url },
        );
      // Three tabs of one user in the other process: one key; closing two is no leave.
      const tabs = [
        await connect("a", "carol", "1"),
        await connect("a", "carol", "2"),
        await connect("a", "carol", "3"),
      ];
      const joined = await watchers[0].until((d) => "carol" in d.joins);
      assert.equal(joined.joins.carol.length, 1);
      // The other process prints its backend's events: its untracks of the two closes in Redis.
      const untracked = other.waitForOutput(
        /^presence event \{"type":"untracked","group":"room\.a","key":"carol"/,
        { count: 2 },
      );
      await tabs[0].disconnect();
      await tabs[1].disconnect();
      await untracked;
      assert.deepEqual(await local.stats("room.a"), { keys: 1, connections: 1 });
      await tabs[2].disconnect();
      await watchers[0].until((d) => "carol" in d.leaves);
      assert.deepEqual(
        watchers[0].diffs.filter((d) => "carol" in d.leaves).length,
        1,
        "one leave, after the last tab",
      );

      // Entries in six groups over the three masters, then SIGKILL: swept within the TTL.
      for (const room of rooms) {
        sockets.push(await connect(room, "doomed", "1"), await connect(room, "doomed", "2"));
      }
      await Promise.all(watchers.map((w) => w.until((d) => "doomed" in d.joins)));
      const killed = performance.now();
      await other.kill();
      await Promise.all(watchers.map((w) => w.until((d) => "doomed" in d.leaves)));
      const evicted = performance.now() - killed;
      console.log(
        `cluster: SIGKILLed process's entries in ${rooms.length} groups (3 masters) evicted ` +
          `after ${evicted.toFixed(0)} ms (TTL ${TTL} ms)`,
      );
      assert.ok(evicted <= TTL, `evicted after ${evicted} ms`);
      for (const room of rooms) {
        assert.deepEqual(await local.stats(`room.${room}`), { keys: 0, connections: 0 });
      }
    } finally {
      for (const s of sockets) await s.disconnect().catch(() => {});
      for (const w of watchers) await w.stop();
      await local.close();
      await client.close();
    }
  },
});

/**
 * A cluster client that dies like a SIGKILLed process right after its first track script:
 * `beforeTrack` runs just before that script is sent, and nothing sent after it reaches Redis.
 */
class DyingClient implements RedisClientLike {
  readonly isCluster = true;
  dead = false;
  readonly #inner: ClusterClient;
  readonly #beforeTrack: () => Promise<void>;
  constructor(inner: ClusterClient, beforeTrack: () => Promise<void>) {
    this.#inner = inner;
    this.#beforeTrack = beforeTrack;
  }
  get isReady(): boolean {
    return this.#inner.isReady;
  }
  get isOpen(): boolean {
    return this.#inner.isOpen;
  }
  connect(): Promise<unknown> {
    return this.#inner.connect();
  }
  duplicate(): RedisClientLike {
    throw new Error("not used: the dying backend never subscribes");
  }
  async sendCommand(args: string[]): Promise<unknown> {
    if (this.dead) return await new Promise(() => {}); // never answered (the timeout rejects)
    const track = args[0] === "EVAL" && args[1].includes("metas[ARGV[1]] = ARGV[3]");
    if (!track) return await this.#inner.sendCommand(args);
    await this.#beforeTrack();
    const reply = await this.#inner.sendCommand(args);
    this.dead = true;
    return reply;
  }
  subscribe(): Promise<unknown> {
    return Promise.reject(new Error("not used"));
  }
  unsubscribe(): Promise<unknown> {
    return Promise.reject(new Error("not used"));
  }
  close(): Promise<unknown> {
    return Promise.resolve();
  }
  destroy(): void {}
  on(): unknown {
    return this;
  }
  off(): unknown {
    return this;
  }
}

Deno.test({
  name: "RedisPresence (cluster): a process killed right after its track script is swept",
  ignore: cluster.skip !== false,
  ...sanitize,
  fn: async () => {
    // Item 18 of tests/FLAKES.md, made deterministic: the tracking process dies the moment its
    // script (join published) ran, and a full sweep runs between its listing and its script (a
    // sweep that unlisted an empty slot then would lose the group too). One group per master.
    const TTL = 1200;
    const prefix = "c3";
    const keys = new PresenceKeys(prefix, true);
    const raw = new ClusterClient(
      makeCluster({ rootNodes: cluster.urls() }, {
        connectTimeout: 2000,
        reconnectStrategy: () => 50,
      }),
    );
    await raw.connect();
    const sweeper = new RedisPresence({
      cluster: { rootNodes: cluster.urls() },
      ttlMs: TTL,
      prefix,
    });
    const groups = ["room.a", "room.b", "room.c"];
    assert.deepEqual(groups.map((g) => Math.floor(keySlot(`{${g}}`) / 5461)).sort(), [0, 1, 2]);
    try {
      for (const group of groups) {
        const w = await watch(sweeper, group);
        let gated = 0;
        const dying = new DyingClient(raw, async () => {
          gated += await sweepSlots(raw, keys, SLOT_LEASE_MS) + 1;
        });
        const dead = new RedisPresence({
          client: dying,
          ttlMs: TTL,
          prefix,
          timeouts: { commandTimeoutMs: 300, connectTimeoutMs: 1000 },
        });
        try {
          await dead.track(group, "ghost", "g1", { tab: 1 }).catch(() => {});
          assert.ok(
            dying.dead && gated === 1,
            "the script ran after a sweep, then the process died",
          );
          await w.until((d) => "ghost" in d.joins);
          const tracked = performance.now();
          await w.until((d) => "ghost" in d.leaves);
          const evicted = performance.now() - tracked;
          console.log(`${group}: evicted ${evicted.toFixed(0)} ms after the track (TTL ${TTL} ms)`);
          assert.ok(evicted <= TTL, `evicted after ${evicted} ms`);
          assert.deepEqual(await sweeper.stats(group), { keys: 0, connections: 0 });
          const lock = Number(await raw.sendCommand(["PTTL", keys.sweeping]));
          assert.ok(lock === -2 || lock > 0, `the sweep lock always expires (PTTL ${lock})`);
        } finally {
          await dead.close();
          await w.stop();
        }
      }
    } finally {
      await sweeper.close();
      await raw.close();
    }
  },
});

Deno.test({
  name: "RedisPresence (cluster): an untrack made while its track waits for the listing is last",
  ignore: cluster.skip !== false,
  ...sanitize,
  fn: async () => {
    // The first track in a slot lists the slot before its script (a round trip): an untrack of
    // the same connection made meanwhile must not reach Redis first (the entry would stay).
    const p = new RedisPresence({ cluster: { rootNodes: cluster.urls() }, prefix: "c4" });
    try {
      for (const group of ["room.a", "room.b", "room.c"]) {
        const track = p.track(group, "quick", "q1", {});
        const untrack = p.untrack(group, "quick", "q1");
        await Promise.all([track, untrack]);
        assert.deepEqual(await p.stats(group), { keys: 0, connections: 0 }, group);
      }
    } finally {
      await p.close();
    }
  },
});

Deno.test("RedisPresence: cluster options are checked", () => {
  assert.throws(() => new RedisPresence({ cluster: { rootNodes: [] } }), /rootNodes/);
  assert.throws(
    () => new RedisPresence({ cluster: { rootNodes: ["redis://h:1"] }, url: "redis://h" }),
    /one of/,
  );
});

cluster.registerStop();
