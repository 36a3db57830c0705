/**
 * Harnesses for the conformance suite on Redis: one shared server (`REDIS_URL`, a fresh key
 * prefix per test) or private servers started per test (several hosts, leak checks).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ChannelLayer } from "../../src/layers/kit.ts";
import { randomToken } from "../../src/layers/kit.ts";
import { LayerUnavailableError } from "../../src/errors.ts";
import {
  type RedisClientLike,
  type RedisHost,
  RedisPubSubChannelLayer,
  RedisQueueChannelLayer,
} from "../../adapters/redis/mod.ts";
import { hostIdentity } from "../../adapters/redis/shard.ts";
import { freePort, rawCommand, RedisServers } from "../helpers/redis_servers.ts";
import { TcpProxy } from "../../testing/tcp_proxy.ts";
import type { ForeignKeys, LayerFaults, LayerHarness, LayerTestOptions } from "./conformance.ts";
import { createClient } from "redis";

/**
 * Plants, on each of `urls`, keys that others own next to a layer's (`<prefix>:jobs:...` as a
 * job queue with the default prefix writes them, and look-alikes of the layer's namespaces).
 */
export async function plantForeignKeys(urls: string[], prefix: string): Promise<ForeignKeys> {
  const names = [
    `${prefix}:jobs:default:ready`,
    `${prefix}:jobs:default:job:1`,
    `${prefix}:qx`,
    `${prefix}:q`,
    `${prefix}:groups`,
    `${prefix}:other:thing`,
  ];
  const clients = urls.map((url) => createClient({ url }));
  for (const c of clients) c.on("error", () => {});
  await Promise.all(clients.map((c) => c.connect()));
  const each = async (fn: (c: (typeof clients)[number]) => Promise<unknown>) => {
    await Promise.all(clients.map(fn));
  };
  try {
    await each((c) => c.sendCommand(["ZADD", names[0], "1", "job-1"]));
    await each((c) => c.sendCommand(["HSET", names[1], "state", "queued"]));
    for (const name of names.slice(2)) await each((c) => c.sendCommand(["SET", name, "x"]));
  } catch (error) {
    await Promise.all(clients.map((c) => c.close()));
    throw error;
  }
  return {
    planted: names.length * clients.length,
    async count() {
      const counts = await Promise.all(clients.map((c) => c.sendCommand(["EXISTS", ...names])));
      return counts.reduce((sum: number, n) => sum + Number(n), 0);
    },
    async remove() {
      try {
        await each((c) => c.sendCommand(["DEL", ...names]));
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    },
  };
}

/** The shared Redis of this run, or undefined (Redis tests are then skipped). */
export const REDIS_URL: string | undefined = Deno.env.get("REDIS_URL") || undefined;

let warned = false;
/** Why Redis tests are skipped (printed once), or false. */
export function redisSkipReason(): string | false {
  if (REDIS_URL) return false;
  const reason = "REDIS_URL is not set: Redis layer tests are skipped " +
    "(run with REDIS_URL=redis://127.0.0.1:6379)";
  if (!warned) {
    warned = true;
    console.warn(reason);
  }
  return reason;
}

/** Which Redis layer a harness makes. */
export type RedisKind = "pubsub" | "queue";

/** Makes a layer of `kind`. */
export function makeRedisLayer(
  kind: RedisKind,
  base: { url?: string; hosts?: RedisHost[]; prefix: string },
  options: LayerTestOptions & { encryptionKeys?: string[] } = {},
): RedisPubSubChannelLayer | RedisQueueChannelLayer {
  const common = {
    ...base,
    capacity: options.capacity,
    channelCapacity: options.channelCapacity,
    expiry: options.expiry,
    encryptionKeys: options.encryptionKeys,
    onDrop: options.onDrop as never,
    backoff: { minDelayMs: 20, maxDelayMs: 200 },
    timeouts: options.timeouts,
  };
  return kind === "pubsub"
    ? new RedisPubSubChannelLayer(common)
    : new RedisQueueChannelLayer({ ...common, groupExpiry: options.groupExpiry });
}

/**
 * Connects a layer a test sets up. The suite's short connect timeouts (1 s) bound the calls under
 * test; a machine under heavy load misses them while a test is only setting up (seen in parallel
 * runs at loads of 11–14 on 2 cores, three tries in a row through a proxy), so setup tries again
 * for up to 20 s.
 */
async function connectForSetup(layer: { connect(): Promise<void> }): Promise<void> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    try {
      return await layer.connect();
    } catch (error) {
      if (!(error instanceof LayerUnavailableError) || performance.now() > deadline) throw error;
    }
  }
}

function listen(layer: ChannelLayer, channel: string): Promise<void> {
  return layer instanceof RedisPubSubChannelLayer ? layer.listen(channel) : Promise.resolve();
}

/** A harness on the shared `REDIS_URL` server, with a key prefix of its own. */
export function sharedServerHarness(kind: RedisKind): () => Promise<LayerHarness> {
  return () => {
    const prefix = `sbtest${randomToken(8)}`;
    const made: ChannelLayer[] = [];
    return Promise.resolve({
      async make(options?: LayerTestOptions) {
        const layer = makeRedisLayer(kind, { url: REDIS_URL!, prefix }, options);
        made.push(layer);
        await connectForSetup(layer);
        return layer;
      },
      listen,
      plantForeignKeys: () => plantForeignKeys([REDIS_URL!], prefix),
      async dispose() {
        await Promise.all(made.map((l) => l.close()));
        if (kind === "queue") {
          const cleaner = new RedisQueueChannelLayer({ url: REDIS_URL!, prefix });
          try {
            await cleaner.flush();
          } finally {
            await cleaner.close();
          }
        }
      },
    });
  };
}

/**
 * A harness on `count` private servers; `dispose` checks every connection was closed. It
 * provides {@linkcode LayerFaults}: restart, pause, an unreachable port, TCP proxies (also one per
 * connection role).
 */
export function privateServersHarness(
  kind: RedisKind,
  count: number,
): () => Promise<LayerHarness> {
  return async () => {
    const servers = await RedisServers.start(count);
    const made: ChannelLayer[] = [];
    const proxies: TcpProxy[] = [];
    /** Clients given to split layers (the layer does not close a client it was given). */
    const clients: RedisClientLike[] = [];
    const faults: LayerFaults = {
      async restart() {
        await Promise.all(servers.servers.map((s) => s.restart()));
      },
      pause() {
        for (const s of servers.servers) s.pause();
      },
      resume() {
        for (const s of servers.servers) s.resume();
      },
      makeUnreachable(options?: LayerTestOptions) {
        // Distinct ports: a port freed at once can be handed out twice in a row.
        const ports = new Set<number>();
        while (ports.size < count) ports.add(freePort());
        const hosts = [...ports].map((port) => `redis://127.0.0.1:${port}`);
        const layer = makeRedisLayer(kind, { hosts, prefix: "sb" }, options);
        made.push(layer);
        return layer;
      },
      async makeProxied(options?: LayerTestOptions) {
        // Pair proxies with servers in host-identity order, so that the proxied layer puts every
        // name on the same server as the direct ones (names are sharded by host identity).
        const mine = await Promise.all(servers.servers.map((s) => TcpProxy.start(s.port)));
        proxies.push(...mine);
        const byId = <T>(list: T[], id: (x: T) => string) =>
          [...list].sort((a, b) => (id(a) < id(b) ? -1 : 1));
        const sortedServers = byId(servers.servers, (s) => hostIdentity(s.url));
        const sortedProxies = byId(mine, (p) => hostIdentity(p.url("redis")));
        sortedProxies.forEach((p, i) => p.retarget(sortedServers[i].port));
        // Listed in the servers' order too: position i is (a proxy of) server i.
        const hosts = servers.servers.map((s) =>
          mine.find((p) => p.target.port === s.port)!.url("redis")
        );
        const layer = makeRedisLayer(kind, { hosts, prefix: "sb" }, options);
        made.push(layer);
        await connectForSetup(layer);
        return { layer, proxies: mine };
      },
      async makeSplit(options?: LayerTestOptions) {
        // The layer's own way to be given connections, no test-only option: one node-redis
        // client per host for commands, whose duplicate() (what the layer opens its subscriber
        // or blocking reader with) connects through a second proxy of the same server.
        const commands = await Promise.all(servers.servers.map((s) => TcpProxy.start(s.port)));
        const listener = await Promise.all(servers.servers.map((s) => TcpProxy.start(s.port)));
        proxies.push(...commands, ...listener);
        // Hosts are sharded by identity (here a command proxy's address): pair the proxies with
        // the servers in identity order, so that names land where the direct layers put them.
        const byId = <T>(list: T[], id: (x: T) => string) =>
          [...list].sort((a, b) => (id(a) < id(b) ? -1 : 1));
        const sortedServers = byId(servers.servers, (s) => hostIdentity(s.url));
        byId(commands, (p) => hostIdentity(p.url("redis"))).forEach((p, i) => {
          p.retarget(sortedServers[i].port);
          listener[commands.indexOf(p)].retarget(sortedServers[i].port);
        });
        const socket = {
          connectTimeout: options?.timeouts?.connectTimeoutMs,
          reconnectStrategy: (retries: number) => Math.min(20 * 2 ** retries, 200),
        };
        const open = (url: string) => {
          // Offline queue off, as in the clients the layer makes from URLs.
          const client = createClient({ url, disableOfflineQueue: true, socket });
          client.on("error", () => {});
          return client as unknown as RedisClientLike;
        };
        const hosts = commands.map((p, i) => {
          const client = open(p.url("redis"));
          client.duplicate = () => open(listener[i].url("redis"));
          clients.push(client);
          return client;
        });
        await Promise.all(hosts.map((c) => c.connect()));
        const layer = makeRedisLayer(kind, { hosts, prefix: "sb" }, options);
        made.push(layer);
        await connectForSetup(layer);
        return { layer, listener, commands };
      },
      async killConnections(type) {
        await Promise.all(
          servers.servers.map((s) => rawCommand(s.port, `CLIENT KILL TYPE ${type} SKIPME yes`)),
        );
      },
    };
    return {
      async make(options?: LayerTestOptions) {
        const hosts = options?.reverseHosts ? [...servers.urls].reverse() : servers.urls;
        const layer = makeRedisLayer(kind, { hosts, prefix: "sb" }, options);
        made.push(layer);
        await connectForSetup(layer);
        return layer;
      },
      listen,
      plantForeignKeys: () => plantForeignKeys(servers.urls, "sb"),
      faults,
      async dispose() {
        try {
          await Promise.all(made.map((l) => l.close()));
          await Promise.all(clients.map(async (c) => {
            if (c.isReady) await c.close().catch(() => c.destroy());
            else if (c.isOpen) c.destroy();
          }));
          await Promise.all(proxies.map((p) => p.close()));
          for (const server of servers.servers) {
            let open = await server.connectedClients();
            // The server counts a connection until it has read its end, a moment after the
            // layer closed it (longer under load; and a proxy's upstream side closes after the
            // layer's side): poll for up to 2 s.
            for (let i = 0; open > 0 && i < 100; i++) {
              await new Promise((r) => setTimeout(r, 20));
              open = await server.connectedClients();
            }
            assert.equal(open, 0, `connections left open on ${server.url} after close()`);
          }
        } finally {
          await servers.stop();
        }
      },
    };
  };
}
