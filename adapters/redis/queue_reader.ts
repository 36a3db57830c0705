/**
 * The long-lived reader of the Redis queue layer: one per host and layer instance, on a dedicated
 * connection. It pops entries of the keys the layer wants read (its process inboxes, and normal
 * channels while a receiver waits on them) in batches (`READ`), blocks with `BZPOPMIN` when there
 * is nothing, and hands each entry to the layer with its age measured on the Redis clock.
 *
 * When the set of keys changes while it blocks, the layer's command connection sends `CLIENT
 * UNBLOCK <reader id>`; the id is read again after every reconnect (a stale id would make each
 * change wait out the block timeout, or unblock another client after a restart).
 *
 * @module
 */
import { getLogger } from "../../src/layers/kit.ts";
import {
  type BackoffOptions,
  closeLink,
  openLink,
  type RedisClientLike,
  type RedisHost,
  type RedisLink,
  type RedisTimeouts,
} from "./redis_client.ts";
import { READ } from "./scripts.ts";
import { bySlot } from "./cluster_keys.ts";
import type { ClusterClient } from "./cluster_client.ts";

/** Seconds a `BZPOPMIN` of the reader blocks before it re-reads its keys. */
export const BLOCK_SECONDS = 2;

/**
 * On a Redis Cluster, seconds a `BZPOPMIN` blocks while the reader also reads keys of other
 * slots (normal channels a receiver waits on): one pop cannot block on several slots, so those
 * are polled at this pace.
 */
export const CLUSTER_POLL_SECONDS = 0.05;

/** What a reader needs from its layer. */
export interface ReaderHost {
  /** Index of the host (for logs and events). */
  readonly index: number;
  /** Where the host is. */
  readonly redis: RedisHost;
  /** True on a Redis Cluster: keys are read per slot, ids are per node. */
  readonly cluster?: boolean;
  /** Reconnect backoff. */
  readonly backoff?: BackoffOptions;
  /** Connect and command timeouts (a blocking pop gets its block time on top). */
  readonly timeouts?: RedisTimeouts;
  /** True once the layer is closed. */
  closed(): boolean;
  /** Opens the layer's command connections. */
  connect(): Promise<void>;
  /** The layer's command client of this host (sends `CLIENT UNBLOCK`). */
  command(): RedisClientLike | undefined;
  /** Set while a flush runs: the reader waits for it before reading again. */
  flushGate(): Promise<void> | undefined;
  /** The keys to read on this host and how many entries to pop from each. */
  keys(): [string[], string[]];
  /** Hands one popped entry to local mailboxes; a promise when decoding is async. */
  dispatch(key: string, member: string, ageMs: number): Promise<void> | undefined;
  /** The reader's connection dropped. */
  down(reason: string): void;
  /**
   * The reader reads again after failures; `restarted` is true when the server's `run_id`
   * changed (its data may be gone). Resolves once the layer has restored what it holds.
   */
  recovered(restarted: boolean): Promise<void>;
}

/** The reader of one host. */
export class HostReader {
  /** Inbox keys of this process on this host. */
  readonly inboxes: Set<string> = new Set();
  readonly #host: ReaderHost;
  #conn: RedisLink | undefined;
  #id: Promise<string | undefined> = Promise.resolve(undefined);
  #starting: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  /** Bumped whenever the set of keys to read changes. */
  #gen = 0;
  #blocking = false;
  #blockingGen = -1;
  #wake: (() => void) | undefined;
  #unblocking: Promise<void> | undefined;
  #down = false;
  #runId: string | undefined;
  #readyWaiters: Array<() => void> = [];
  #busy = false;
  #idleWaiters: Array<() => void> = [];
  #pause: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | undefined;
  /** Redis time minus local time, measured at the last `READ` reply. */
  #clockOffset = 0;
  /** On a cluster: a key of the slot the pop blocks on (`CLIENT UNBLOCK` goes to its node). */
  #blockKey = "";
  /** On a cluster: the node (`host:port`) whose client id {@linkcode id} is. */
  #idNode = "";

  /** A reader for `host`; it starts on {@linkcode ensure}. */
  constructor(host: ReaderHost) {
    this.#host = host;
  }

  /** True once the read loop runs. */
  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** The `CLIENT ID` of the reader connection (re-read after each reconnect), if known. */
  id(): Promise<string | undefined> {
    return this.#id;
  }

  #readId(conn: RedisLink): Promise<string | undefined> {
    // On a cluster the id is per node: read before each blocking pop (#readCluster).
    if (this.#host.cluster) return Promise.resolve(undefined);
    return conn.client.sendCommand(["CLIENT", "ID"]).then(String, () => undefined);
  }

  /**
   * The cluster read: `READ` per slot; when nothing came, the id of the reader's connection to
   * the node of the first slot (the process inboxes), then a blocking pop there: 2 s when it is
   * the only slot, {@linkcode CLUSTER_POLL_SECONDS} when others are polled.
   */
  async #readCluster(
    client: RedisClientLike,
    keys: string[],
    counts: string[],
    mayBlock: () => boolean,
  ): Promise<{ rows: unknown[]; first: number }> {
    const groups = bySlot(keys, counts);
    const replies = await Promise.all(groups.map(([k, c]) => READ.run(client, k, c)));
    const first = replies[0] as unknown[];
    this.#clockOffset = Number(first[0]) - Date.now();
    const rows: unknown[] = [first[0]];
    for (const r of replies) rows.push(...(r as unknown[]).slice(1));
    if (rows.length > 1 || !mayBlock()) return { rows, first: 1 };
    const [blockKeys] = groups[0];
    const raw = (client as { raw?: ClusterClient }).raw!;
    this.#blockKey = blockKeys[0];
    this.#idNode = await raw.nodeOf(this.#blockKey).catch(() => "");
    this.#id = raw.onNodeOf(this.#blockKey, ["CLIENT", "ID"]).then(String, () => undefined);
    if (!(await this.#id) || !mayBlock()) return { rows, first: 1 };
    const seconds = groups.length > 1 ? String(CLUSTER_POLL_SECONDS) : String(BLOCK_SECONDS);
    this.#blocking = true;
    try {
      const popped = await client.sendCommand(["BZPOPMIN", ...blockKeys, seconds]);
      return { rows: (popped as unknown[] | null) ?? [], first: 0 };
    } finally {
      this.#blocking = false;
    }
  }

  /** Opens the reader connection and starts the loop (idempotent). */
  async ensure(): Promise<void> {
    if (this.#loop) return;
    const host = this.#host;
    this.#starting ??= (async () => {
      await host.connect();
      const conn = await openLink(host.redis, `queue host ${host.index} (reader)`, {
        duplicate: true,
        backoff: host.backoff,
        timeouts: host.timeouts,
        hooks: {
          onDown: (reason) => {
            // The old id may soon name another client (after a restart): never unblock it.
            this.#id = Promise.resolve(undefined);
            if (this.#down || host.closed()) return;
            this.#down = true;
            host.down(`Redis host ${host.index}: ${reason}`);
          },
          onUp: () => {
            // A reconnect is a new client with a new id: read it before anything unblocks.
            this.#id = this.#readId(conn);
            for (const resolve of this.#readyWaiters.splice(0)) resolve();
          },
        },
      });
      if (host.closed()) {
        await closeLink(conn);
        throw new Error("The Redis queue layer is closed");
      }
      this.#conn = conn;
      this.#id = this.#readId(conn);
      await this.#id;
      this.#runId = await this.#serverRunId(conn);
      this.#loop = this.#readLoop(conn);
    })();
    try {
      await this.#starting;
    } catch (error) {
      this.#starting = undefined;
      throw error;
    }
  }

  async #serverRunId(conn: RedisLink): Promise<string | undefined> {
    // A cluster has one run_id per node (INFO goes to any of them): no restart detection there.
    if (this.#host.cluster) return undefined;
    try {
      const info = String(await conn.client.sendCommand(["INFO", "server"]));
      return /run_id:([0-9a-f]+)/.exec(info)?.[1];
    } catch {
      return undefined;
    }
  }

  /** The keys to read changed: wake or unblock the loop (starting it when needed). */
  kick(): void {
    this.#gen++;
    if (this.#wake) {
      const wake = this.#wake;
      this.#wake = undefined;
      wake();
      return;
    }
    if (!this.#loop && !this.#host.closed()) {
      this.ensure().catch((error) =>
        getLogger().warn(`Redis queue layer: cannot start reader: ${error}`)
      );
      return;
    }
    if (this.#blocking && this.#blockingGen < this.#gen) this.#unblock();
  }

  /** Makes the blocking pop return (as a timeout: nothing is popped) so it re-reads its keys. */
  #unblock(): Promise<void> {
    this.#unblocking ??= (async () => {
      try {
        for (let i = 0; i < 50; i++) {
          const closed = this.#host.closed();
          if (!this.#blocking || (!closed && this.#blockingGen >= this.#gen)) return;
          const client = this.#host.command();
          const id = await this.#id;
          if (!client?.isReady || !id) return;
          const unblock = ["CLIENT", "UNBLOCK", id];
          const raw = (client as { raw?: ClusterClient }).raw;
          let done: unknown;
          if (this.#host.cluster && raw) {
            // Ids are per node: never unblock on a node the slot moved to (another client there
            // may have this id); the pop then returns at its timeout or with a MOVED.
            if ((await raw.nodeOf(this.#blockKey).catch(() => "")) !== this.#idNode) return;
            done = await raw.onNodeOf(this.#blockKey, unblock);
          } else {
            done = await client.sendCommand(unblock);
          }
          if (Number(done) === 1) return;
          // The BZPOPMIN has not reached Redis yet: try again shortly.
          await new Promise((r) => setTimeout(r, 2));
        }
      } catch (error) {
        getLogger().debug(`Redis queue layer: CLIENT UNBLOCK failed: ${error}`);
      } finally {
        this.#unblocking = undefined;
      }
    })();
    return this.#unblocking;
  }

  /** Resolves once the current read (if any) is over; a blocking pop is interrupted. */
  async idle(): Promise<void> {
    if (!this.#busy) return;
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#gen++;
    if (this.#blocking) await this.#unblock();
    await idle;
  }

  #waitReady(conn: RedisLink): Promise<void> {
    if (conn.client.isReady || this.#host.closed()) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  #pauseFor(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pause = undefined;
        resolve();
      }, ms);
      this.#pause = { timer, resolve };
    });
  }

  async #readLoop(conn: RedisLink): Promise<void> {
    const host = this.#host;
    const client = conn.client;
    let failures = 0;
    while (!host.closed()) {
      for (let gate = host.flushGate(); gate && !host.closed(); gate = host.flushGate()) {
        await gate;
      }
      // The key generation these keys belong to: a kick() during the READ below changes the keys,
      // so the loop must not then block on the old ones (it would wait out the block timeout).
      const gen = this.#gen;
      const [keys, counts] = host.keys();
      if (keys.length === 0) {
        await new Promise<void>((resolve) => this.#wake = resolve);
        continue;
      }
      let failed: unknown;
      this.#busy = true;
      try {
        const mayBlock = () => !host.closed() && !host.flushGate() && this.#gen === gen;
        let rows: unknown[];
        let first = 1;
        if (host.cluster) {
          this.#blockingGen = gen;
          ({ rows, first } = await this.#readCluster(
            client,
            keys,
            counts,
            () => failures === 0 && mayBlock(),
          ));
          if (failures) {
            failures = 0;
            await this.#recovered(conn);
          }
        } else {
          rows = (await READ.run(client, keys, counts)) as unknown[];
          this.#clockOffset = Number(rows[0]) - Date.now();
        }
        if (!host.cluster && failures) {
          failures = 0;
          await this.#recovered(conn);
        }
        if (!host.cluster && rows.length === 1 && mayBlock()) {
          this.#blockingGen = gen;
          this.#blocking = true;
          try {
            const popped = await client.sendCommand(["BZPOPMIN", ...keys, String(BLOCK_SECONDS)]);
            rows = (popped as unknown[] | null) ?? [];
            first = 0;
          } finally {
            this.#blocking = false;
          }
        }
        const redisNow = Date.now() + this.#clockOffset;
        for (let i = first; i + 2 < rows.length; i += 3) {
          const age = redisNow - Number(rows[i + 2]);
          const dispatched = host.dispatch(String(rows[i]), String(rows[i + 1]), age);
          if (dispatched) await dispatched;
        }
      } catch (error) {
        failed = error ?? new Error("unknown reader failure");
      } finally {
        this.#busy = false;
        for (const resolve of this.#idleWaiters.splice(0)) resolve();
      }
      if (failed === undefined || host.closed()) continue;
      failures++;
      if (!client.isReady) {
        await this.#waitReady(conn);
      } else {
        getLogger().error(`Redis queue layer: reader on host ${host.index} failed`, {
          error: failed,
        });
        await this.#pauseFor(Math.min(50 * 2 ** failures, 2000));
      }
    }
  }

  async #recovered(conn: RedisLink): Promise<void> {
    this.#down = false;
    const runId = await this.#serverRunId(conn);
    // A cluster has no one run_id to compare, and a read that failed there may have been a
    // failover (a promoted replica lacks what was not replicated yet): treated as a restart.
    const restarted = this.#host.cluster || (!!runId && !!this.#runId && runId !== this.#runId);
    if (runId) this.#runId = runId;
    await this.#host.recovered(restarted);
  }

  /** Stops the loop and closes the reader connection. */
  async close(): Promise<void> {
    if (this.#starting) await this.#starting.catch(() => {});
    this.#wake?.();
    this.#wake = undefined;
    if (this.#pause) {
      clearTimeout(this.#pause.timer);
      this.#pause.resolve();
      this.#pause = undefined;
    }
    for (const resolve of this.#readyWaiters.splice(0)) resolve();
    if (this.#loop) {
      if (this.#blocking) await this.#unblock();
      if (this.#blocking) this.#conn?.client.destroy();
      await this.#loop.catch(() => {});
    }
    await this.#unblocking;
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn) await closeLink(conn);
  }
}
