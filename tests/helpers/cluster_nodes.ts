/**
 * Node-level steps on a private Redis Cluster for the history tests: `FLUSHALL` on every master
 * (every history, and every other key, is gone, as after losing the cluster's data), and waiting
 * until a master's replicas have everything it wrote (so a failover loses nothing).
 *
 * @module
 */
import { clusterCli, type RedisClusterServer } from "../../testing/redis_cluster.ts";

/** The ports of the running masters (by `ROLE`). */
export async function masterPorts(server: RedisClusterServer): Promise<number[]> {
  const roles = await Promise.all(
    server.live.map(async (n) => [n.port, (await clusterCli(n.port, "ROLE")).split("\n")[0]]),
  );
  return roles.filter(([, role]) => role === "master").map(([port]) => port as number);
}

/** `FLUSHALL` on every master. */
export async function flushMasters(server: RedisClusterServer): Promise<void> {
  for (const port of await masterPorts(server)) {
    const reply = (await clusterCli(port, "FLUSHALL")).trim();
    if (reply !== "OK") throw new Error(`FLUSHALL on ${port}: ${reply}`);
  }
}

/** Resolves once every replica of the master at `port` has everything the master wrote. */
export async function replicated(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const info = await clusterCli(port, "INFO", "replication");
    const top = Number(/master_repl_offset:(\d+)/.exec(info)?.[1]);
    const offsets = [...info.matchAll(/slave\d+:[^\n]*offset=(\d+)/g)].map((m) => Number(m[1]));
    if (offsets.length > 0 && offsets.every((o) => o >= top)) return;
    if (Date.now() > deadline) throw new Error(`replicas of ${port} behind: ${info}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True when the master at `port` has a connected replica (one that a failover can promote). */
export async function hasReplica(port: number): Promise<boolean> {
  const info = await clusterCli(port, "INFO", "replication");
  return Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0) > 0;
}
