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
import {
  clusterCli,
  clusterPorts,
  createCluster,
  keySlot,
  NODE_ATTEMPTS,
  type NodeLine,
  parseNodes,
  until,
} from "./redis_cluster_cli.ts";

export { clusterCli, keySlot } from "./redis_cluster_cli.ts";

/** One node of a {@linkcode RedisClusterServer}. */
export interface ClusterNode {
  /** Its port on 127.0.0.1 (the cluster bus is on port + 10000). */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** True while its process runs (false once killed or stopped). */
  readonly running: boolean;
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
