/**
 * `FLUSHALL` on every master of a private Redis Cluster: every history (and every other key) of
 * the cluster is gone, as after losing the cluster's data.
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
