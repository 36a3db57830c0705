/**
 * A private Redis Cluster for a test: {@linkcode startRedisCluster} starts 3 masters and 3
 * replicas (`redis-server --cluster-enabled yes`) on free loopback ports (each port + 10000, the
 * cluster bus, free too), joins them with `redis-cli --cluster create --cluster-replicas 1`,
 * waits until every node reports `cluster_state:ok`, and `await using` stops it.
 *
 * ```ts ignore
 * import { startRedisCluster } from "@switchboard/switchboard/testing";
 *
 * await using cluster = await startRedisCluster();
 * const layer = new RedisPubSubChannelLayer({ cluster: { rootNodes: cluster.urls } });
 * await cluster.killMaster("some-key");  // SIGKILL its master; returns once a replica took over
 * await cluster.failover();              // CLUSTER FAILOVER: a replica swaps roles with its master
 * ```
 *
 * @module
 */
import { ServiceUnavailableError } from "./services.ts";

/** One node of a {@linkcode RedisClusterServer}. */
export interface ClusterNode {
  /** Its port on 127.0.0.1 (the cluster bus is on port + 10000). */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** True while its process runs (false once killed or stopped). */
  readonly running: boolean;
}

/** Runs `redis-cli -p <port> <args>` and returns its standard output (throws on failure). */
export function clusterCli(port: number, ...args: string[]): Promise<string> {
  return clusterCliWithin(CLI_TIMEOUT_MS, port, ...args);
}

/** A `redis-cli` call that has not ended within this long is killed (it then throws). */
const CLI_TIMEOUT_MS = 10_000;

/** {@linkcode clusterCli}, killed after `ms` (a `redis-cli` that waits for ever fails instead). */
async function clusterCliWithin(ms: number, port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-p", String(port), ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(ms),
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`redis-cli ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * `count` ports in 10000..22767 whose port + 10000 is free too (and not in `avoid`). Both the
 * ports and their buses lie below Linux's ephemeral range (32768 and up), where the kernel picks
 * the local ports of outgoing connections and of `freePort()`: a port checked free there could be
 * taken before the node binds it (seen once in `.ci/run`: a node never answered).
 */
function clusterPorts(count: number, avoid: readonly number[] = []): number[] {
  const ports: number[] = [];
  const taken = (p: number) => ports.includes(p) || avoid.includes(p);
  for (let tries = 0; ports.length < count && tries < 1000; tries++) {
    const port = 10000 + Math.floor(Math.random() * 12768);
    if (taken(port) || taken(port + 10000) || taken(port - 10000)) continue;
    if (portFree(port) && portFree(port + 10000)) ports.push(port);
  }
  if (ports.length < count) throw new Error("No free loopback ports for a Redis Cluster");
  return ports;
}

/** How often a node whose process exited at once (its port was taken) is started anew. */
const NODE_ATTEMPTS = 4;

/**
 * `redis-cli --cluster create` on `nodes`, bounded, with its handshakes seen through.
 *
 * redis-cli assigns the slots, sends one `CLUSTER MEET` per node and then waits, for ever, until
 * every node knows every other. On a loaded machine a handshake can time out (it has the
 * cluster's 1 s node timeout) and is dropped, and that node is never met: the create hung a test
 * for good (seen in `.ci/run`: the first node knew only itself minutes later; one more MEET let
 * the create finish at once). So while it waits, nodes the first one does not know are met again,
 * every half second, once the slots are assigned (before that redis-cli still checks that each
 * node is empty and knows nobody).
 */
async function createCluster(nodes: readonly ClusterNode[]): Promise<void> {
  const first = nodes[0].port;
  let creating = true;
  const meeting = (async () => {
    while (creating) {
      await new Promise((r) => setTimeout(r, 500));
      if (!creating) return;
      try {
        const view = await clusterCli(first, "CLUSTER", "NODES");
        if (!/ connected \d/.test(view)) continue; // no slots yet: redis-cli has not begun
        for (const n of nodes.slice(1)) {
          if (!view.includes(`127.0.0.1:${n.port}@`)) {
            await clusterCli(first, "CLUSTER", "MEET", "127.0.0.1", String(n.port));
          }
        }
      } catch {
        // a node not answering yet: the next round tries again
      }
    }
  })();
  try {
    await clusterCliWithin(
      60_000,
      first,
      "--cluster",
      "create",
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    );
  } finally {
    creating = false;
    await meeting;
  }
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`Redis Cluster: ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One line of `CLUSTER NODES`. */
interface NodeLine {
  id: string;
  port: number;
  master: boolean;
  failed: boolean;
  masterId: string;
  slots: string[];
}

function parseNodes(text: string): NodeLine[] {
  return text.trim().split("\n").filter(Boolean).map((line) => {
    const f = line.trim().split(" ");
    return {
      id: f[0],
      port: Number(/:(\d+)@/.exec(f[1])?.[1]),
      master: f[2].includes("master"),
      failed: f[2].includes("fail"),
      masterId: f[3],
      slots: f.slice(8),
    };
  });
}

/** The hash slot of a key (CRC16/XMODEM of its hash tag or of the whole key, mod 16384). */
export function keySlot(key: string): number {
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const b of new TextEncoder().encode(key)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % 16384;
}

/** A private 3-master, 3-replica Redis Cluster (see {@linkcode startRedisCluster}). */
export class RedisClusterServer implements AsyncDisposable {
  /** The six nodes (masters first, as `--cluster create` assigned them). */
  readonly nodes: ClusterNode[];
  readonly #dir: string;
  readonly #procs = new Map<number, Deno.ChildProcess>();
  #stopped = false;

  private constructor(nodes: ClusterNode[], dir: string) {
    this.nodes = nodes;
    this.#dir = dir;
  }

  /** Seed URLs of every node (what `REDIS_CLUSTER_URLS` lists). */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** Starts the nodes, creates the cluster and waits until it is `ok` everywhere. */
  static async start(): Promise<RedisClusterServer> {
    try {
      await new Deno.Command("redis-server", { args: ["--version"], stdout: "null" }).output();
    } catch (error) {
      throw new ServiceUnavailableError("redis", `redis-server is not runnable: ${error}`);
    }
    const dir = await Deno.makeTempDir({ prefix: "redis-cluster-" });
    const cluster = new RedisClusterServer([], dir);
    try {
      const ports = clusterPorts(6);
      // Settled, not raced: a failed node must not leave others starting after the stop below.
      const started = await Promise.allSettled(ports.map((port, i) => cluster.#startNode(i, port)));
      const failed = started.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
      await createCluster(cluster.nodes);
      await cluster.waitOk();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** A node on `port` whose `running` follows its process. */
  #node(port: number): ClusterNode {
    const procs = this.#procs;
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      get running() {
        return procs.has(port);
      },
    };
  }

  /**
   * Starts node `index` on `port` and waits until it answers. When its process exits first (the
   * port or its bus was taken in the meantime), it starts again on other free ports.
   */
  async #startNode(index: number, port: number): Promise<void> {
    for (let attempt = 1;; attempt++) {
      const node = this.#node(port);
      this.nodes[index] = node;
      const child = this.#spawn(node);
      let exited: Deno.CommandStatus | undefined;
      child.status.then((s) => exited = s);
      await until(`node ${port} answers`, 10_000, async () => {
        if (exited) return true;
        return (await clusterCli(port, "PING")).trim() === "PONG";
      });
      if (!exited) return;
      this.#procs.delete(port);
      if (attempt === NODE_ATTEMPTS) {
        throw new Error(
          `Redis Cluster: node on port ${port} exited (code ${exited.code}) ${attempt} times`,
        );
      }
      const used = this.nodes.filter(Boolean).map((n) => n.port);
      [port] = clusterPorts(1, [...used, ...used.map((p) => p + 10000)]);
    }
  }

  #spawn(node: ClusterNode): Deno.ChildProcess {
    const nodeDir = `${this.#dir}/${node.port}`;
    Deno.mkdirSync(nodeDir, { recursive: true });
    const child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(node.port),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `${nodeDir}/nodes.conf`,
        "--cluster-node-timeout",
        "1000",
        // A master waits this long (default 5 s) for more replicas before a diskless full sync:
        // each replica here syncs alone, so waiting only delays the cluster's first `ok`.
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
        nodeDir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#procs.set(node.port, child);
    return child;
  }

  async #kill(port: number): Promise<void> {
    const child = this.#procs.get(port);
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    this.#procs.delete(port);
  }

  /** The nodes that are running. */
  get live(): ClusterNode[] {
    return this.nodes.filter((n) => this.#procs.has(n.port));
  }

  async #nodes(): Promise<NodeLine[]> {
    return parseNodes(await clusterCli(this.live[0].port, "CLUSTER", "NODES"));
  }

  /** Waits until every running node says `cluster_state:ok` and agrees on the masters. */
  async waitOk(ms = 30_000): Promise<void> {
    await until("cluster_state:ok on every node", ms, async () => {
      for (const node of this.live) {
        const info = await clusterCli(node.port, "CLUSTER", "INFO");
        if (!info.includes("cluster_state:ok")) return false;
        // A replica that never synced cannot be promoted (its data counts as too old).
        const repl = await clusterCli(node.port, "INFO", "replication");
        if (repl.includes("role:slave") && !repl.includes("master_link_status:up")) return false;
      }
      const views = await Promise.all(this.live.map(async (n) => {
        const lines = parseNodes(await clusterCli(n.port, "CLUSTER", "NODES"));
        return lines.filter((l) => l.master && !l.failed && l.slots.length).map((l) => l.port)
          .sort().join(",");
      }));
      return views.every((v) => v === views[0]);
    });
  }

  /** The port of the master that serves `key` (or of the first master without a key). */
  async masterOf(key?: string): Promise<number> {
    const lines = await this.#nodes();
    const masters = lines.filter((l) => l.master && !l.failed && l.slots.length);
    if (key === undefined) return masters[0].port;
    const slot = keySlot(key);
    for (const m of masters) {
      for (const range of m.slots) {
        if (range.startsWith("[")) continue;
        const [a, b] = range.split("-").map(Number);
        if (slot >= a && slot <= (b ?? a)) return m.port;
      }
    }
    throw new Error(`No master serves slot ${slot}`);
  }

  /**
   * SIGKILLs the master that serves `key` (the first master without one) and waits until its
   * replica was promoted and the cluster is `ok` again. Returns the killed port.
   */
  async killMaster(key?: string): Promise<number> {
    const port = await this.masterOf(key);
    const node = this.nodes.find((n) => n.port === port)!;
    await this.#kill(node.port);
    await until(
      "a new master for the slot",
      30_000,
      async () => (await this.masterOf(key)) !== port,
    );
    await this.waitOk();
    return port;
  }

  /**
   * `CLUSTER FAILOVER` on a replica of the master serving `key`: the two swap roles without
   * losing writes. Returns once the replica is master everywhere.
   */
  async failover(key?: string): Promise<number> {
    const master = await this.masterOf(key);
    const lines = await this.#nodes();
    const masterId = lines.find((l) => l.port === master)!.id;
    const replica = lines.find((l) => !l.master && l.masterId === masterId && !l.failed);
    if (!replica) throw new Error(`No replica of ${master}`);
    await clusterCli(replica.port, "CLUSTER", "FAILOVER");
    await until(
      "the replica to take over",
      30_000,
      async () => (await this.masterOf(key)) === replica.port,
    );
    await this.waitOk();
    return replica.port;
  }

  /**
   * Moves the hash slot of `key` to another master while clients keep using it: `CLUSTER
   * SETSLOT ... IMPORTING` / `MIGRATING`, `MIGRATE` of its keys in batches of `batch` (with a
   * pause of `pauseMs` between batches), then `SETSLOT ... NODE` on every master. The slot
   * stays `holdMs` in the migrating state before and after its keys move (clients meet `ASK`
   * redirects then). Returns the new master's port.
   */
  async migrateSlot(
    key: string,
    options: { batch?: number; pauseMs?: number; holdMs?: number } = {},
  ): Promise<number> {
    const hold = () => new Promise((r) => setTimeout(r, options.holdMs ?? 0));
    const slot = String(keySlot(key));
    const lines = await this.#nodes();
    const masters = lines.filter((l) => l.master && !l.failed && l.slots.length);
    const from = await this.masterOf(key);
    const source = masters.find((m) => m.port === from)!;
    const target = masters.find((m) => m.port !== from)!;
    await clusterCli(target.port, "CLUSTER", "SETSLOT", slot, "IMPORTING", source.id);
    await clusterCli(source.port, "CLUSTER", "SETSLOT", slot, "MIGRATING", target.id);
    await hold();
    for (;;) {
      const keys = (await clusterCli(
        source.port,
        "CLUSTER",
        "GETKEYSINSLOT",
        slot,
        String(options.batch ?? 10),
      )).trim().split("\n").filter(Boolean);
      if (keys.length === 0) break;
      const reply = await clusterCli(
        source.port,
        "MIGRATE",
        "127.0.0.1",
        String(target.port),
        "",
        "0",
        "5000",
        "KEYS",
        ...keys,
      );
      if (!/OK|NOKEY/.test(reply)) throw new Error(`MIGRATE: ${reply}`);
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
    await hold();
    for (const m of masters) {
      await clusterCli(m.port, "CLUSTER", "SETSLOT", slot, "NODE", target.id);
    }
    await until(
      "the slot's new owner everywhere",
      30_000,
      async () => (await this.masterOf(key)) === target.port,
    );
    return target.port;
  }

  /** Kills every node and removes their files. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.nodes.map(async (n) => {
      await this.#kill(n.port);
    }));
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  /** Same as {@linkcode stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Starts a private 3-master, 3-replica Redis Cluster on free loopback ports and waits until it
 * is `ok` (about a second or two). Throws {@linkcode ServiceUnavailableError} when
 * `redis-server` is missing. Dispose it (`await using`) to stop it.
 */
export function startRedisCluster(): Promise<RedisClusterServer> {
  return RedisClusterServer.start();
}
