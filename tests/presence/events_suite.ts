/**
 * The presence events (`PresenceEvent`, told by `onEvent`), one suite for every backend: `tracked`
 * and `untracked` once the change is in the store, `synced` after each heartbeat with the entries
 * it had to track again, `counts` where the backend keeps counts, and `disconnected` /
 * `reconnected` around an outage of the store.
 *
 * @module
 */
import {
  assert,
  type PresenceBackend,
  type PresenceEvent,
  PresenceUnavailableError,
} from "./deps.ts";
import { eventLog } from "../helpers/event_log.ts";

/** A backend that tells events. */
export type EventfulPresence = PresenceBackend & {
  onEvent(listener: (event: PresenceEvent) => void): () => void;
};

/** One store and two backends on it; `await using` closes them and the store. */
export interface PresenceEventsFixture extends AsyncDisposable {
  /** The backend whose events are looked at. */
  a: EventfulPresence;
  /** Another backend on the same store (another process's view; in memory, `a` itself). */
  b: EventfulPresence;
  /** Empties the store behind the backends' backs (its data lost); absent in memory. */
  lose?(): Promise<void>;
  /** Stops the store (an outage); absent in memory. */
  stop?(): Promise<void>;
  /** Starts it again after `stop`. */
  start?(): Promise<void>;
}

/** How the suite gets its fixtures. */
export interface PresenceEventsHarness {
  /** Test name prefix. */
  name: string;
  /** True to skip (no server binary). */
  ignore: boolean;
  /** A fresh fixture. */
  open(): Promise<PresenceEventsFixture>;
  /** Which `counts` events come: after each change (memory), from a watch (NATS), none (Redis). */
  counts: "each change" | "watch" | "none";
}

const G = "room.events";
const sanitize = { sanitizeOps: true, sanitizeResources: true };

type Change = Extract<PresenceEvent, { type: "tracked" | "untracked" }>;
const isChange = (e: PresenceEvent): e is Change => e.type === "tracked" || e.type === "untracked";

/** Registers the suite for `h`. */
export function presenceEventsSuite(h: PresenceEventsHarness): void {
  const test = (name: string, fn: (f: PresenceEventsFixture) => Promise<void>) =>
    Deno.test({
      name: `${h.name}: presence events: ${name}`,
      ignore: h.ignore,
      ...sanitize,
      fn: async () => {
        await using f = await h.open();
        await fn(f);
      },
    });

  test("tracked and untracked once the change is in the store; a failed call tells none", async (f) => {
    const log = eventLog<PresenceEvent>(f.a);
    // When each is told, the other backend reads the group (and the test waits for that read
    // before the next call): the change is there already.
    let readThen: Promise<number> | undefined;
    const off = f.a.onEvent((e) => {
      if (isChange(e)) readThen = f.b.list(G).then((l) => l.entries.alice?.length ?? 0);
    });
    const step = async (call: () => Promise<void>, metas: number) => {
      readThen = undefined;
      await call();
      assert.ok(readThen, "told before the call resolved");
      assert.equal(await readThen, metas, "the change was in the store when told");
    };
    await step(() => f.a.track(G, "alice", "t1", { tab: 1 }), 1);
    await step(() => f.a.track(G, "alice", "t2", { tab: 2 }), 2);
    await step(() => f.a.untrack(G, "alice", "t1"), 1);
    await step(() => f.a.untrack(G, "nobody", "x"), 1); // nothing there: told too
    const before = log.seen.length;
    await assert.rejects(f.a.track(G, "k", "a|b", {}), /ref/);
    assert.equal(log.seen.length, before, "a failed call tells nothing");
    off();
    log.stop();
    assert.deepEqual(log.seen.filter(isChange), [
      { type: "tracked", group: G, key: "alice", ref: "t1" },
      { type: "tracked", group: G, key: "alice", ref: "t2" },
      { type: "untracked", group: G, key: "alice", ref: "t1" },
      { type: "untracked", group: G, key: "nobody", ref: "x" },
    ]);
  });

  test("synced after each heartbeat, with the entries it had to track again", async (f) => {
    await f.a.track(G, "alice", "t1", {});
    await f.a.track(G, "bob", "b1", {});
    const log = eventLog<PresenceEvent>(f.a);
    await f.a.heartbeat();
    assert.deepEqual(log.seen.filter((e) => e.type === "synced"), [{ type: "synced", tracked: 0 }]);
    if (f.lose) {
      await f.lose();
      const from = log.seen.length;
      await f.a.heartbeat();
      const synced = log.seen.slice(from).filter((e) => e.type === "synced");
      assert.ok(synced.some((e) => e.type === "synced" && e.tracked === 2), JSON.stringify(synced));
      assert.deepEqual(Object.keys((await f.b.list(G)).entries).sort(), ["alice", "bob"]);
    }
    log.stop();
  });

  test(
    h.counts === "none"
      ? "no counts events (the counts are read from the store on each call)"
      : "counts: each change of a counted group's counts, with the new counts",
    async (f) => {
      const log = eventLog<PresenceEvent>(f.b);
      assert.deepEqual(await f.b.stats(G), { keys: 0, connections: 0 }); // counted from now on
      await f.a.track(G, "alice", "t1", {});
      await f.a.track(G, "alice", "t2", {});
      await f.a.track(G, "alice", "t2", { again: true }); // a meta changed: the same counts
      await f.a.untrack(G, "alice", "t1");
      const wants = [
        { keys: 1, connections: 1 },
        { keys: 1, connections: 2 },
        { keys: 1, connections: 1 },
      ];
      if (h.counts !== "none") {
        let from = 0;
        for (const want of wants) {
          const e = await log.next(
            (e) => e.type === "counts",
            `counts ${JSON.stringify(want)}`,
            from,
          );
          assert.deepEqual(e, { type: "counts", group: G, stats: want });
          from = log.indexOf(e) + 1;
        }
      }
      assert.deepEqual(await f.b.stats(G), { keys: 1, connections: 1 });
      log.stop();
      const counts = log.seen.filter((e) => e.type === "counts");
      assert.equal(counts.length, h.counts === "none" ? 0 : wants.length, JSON.stringify(counts));
    },
  );

  if (h.counts !== "each change") {
    test("disconnected once calls fail, reconnected once they reach the store again", async (f) => {
      const log = eventLog<PresenceEvent>(f.a);
      await f.a.track(G, "alice", "t1", {});
      assert.deepEqual(log.seen.filter((e) => e.type === "disconnected"), [], "not before");
      await f.stop!();
      await assert.rejects(f.a.stats(G), PresenceUnavailableError);
      await assert.rejects(f.a.list(G), PresenceUnavailableError);
      const down = log.seen.filter((e) => e.type === "disconnected");
      assert.equal(down.length, 1, "told once");
      assert.ok(down[0].type === "disconnected" && down[0].reason.length > 0);
      const from = log.seen.length;
      await f.start!();
      await log.next((e) => e.type === "reconnected", "calls reach the store again", from);
      await f.a.stats(G); // they do
      log.stop();
      const link = log.seen.filter((e) => e.type === "disconnected" || e.type === "reconnected");
      assert.equal(link.at(-1)?.type, "reconnected", JSON.stringify(link));
    });
  }
}
