/**
 * The `redis-cli` side of the kit's private Redis Cluster (testing/redis_cluster.ts): bounded
 * `redis-cli` calls, free port pairs for the nodes and their buses, the bounded `--cluster create`,
 * `CLUSTER NODES` parsing and the key-slot function.
 *
 * @module
 */
import type { ClusterNode } from "./redis_cluster.ts";

/** Runs `redis-cli -p <port> <args>` and returns its standard output (throws on failure). */
export function clusterCli(port: number, ...args: string[]): Promise<string> {
  return clusterCliWithin(CLI_TIMEOUT_MS, port, ...args);
}

/** A `redis-cli` call that has not ended within this long is killed (it then throws). */
export const CLI_TIMEOUT_MS = 10_000;

/** {@linkcode clusterCli}, killed after `ms` (a `redis-cli` that waits for ever fails instead). */
export async function clusterCliWithin(
  ms: number,
  port: number,
  ...args: string[]
): Promise<string> {
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

export function portFree(port: number): boolean {
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
export function clusterPorts(count: number, avoid: readonly number[] = []): number[] {
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
export const NODE_ATTEMPTS = 4;

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
export async function createCluster(nodes: readonly ClusterNode[]): Promise<void> {
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

export async function until(
  what: string,
  ms: number,
  check: () => Promise<boolean>,
): Promise<void> {
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
export interface NodeLine {
  id: string;
  port: number;
  master: boolean;
  failed: boolean;
  masterId: string;
  slots: string[];
}

export function parseNodes(text: string): NodeLine[] {
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
