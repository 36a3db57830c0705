/**
 * Test harness: private `redis-server` processes for the project's own tests — a thin face over
 * the fault kit (`testing/redis_server.ts`), which binds race-free and restarts on the same port.
 *
 * @module
 */
import {
  freePort,
  redisCommand,
  RedisServer,
  serviceBinary,
  skipReason,
} from "../../testing/mod.ts";

export { freePort, RedisServer };

/** The `redis-server` binary (override with `REDIS_SERVER_BIN`). */
export const REDIS_SERVER_BIN: string = serviceBinary("redis");

/** True when a `redis-server` binary can be started. */
export function hasRedisServer(): Promise<boolean> {
  return Promise.resolve(skipReason("redis") === undefined);
}

/** Sends one inline command and resolves with the first reply line, or rejects. */
export function rawCommand(port: number, command: string, timeoutMs = 500): Promise<string> {
  return redisCommand(port, command, timeoutMs);
}

/** Several servers started together; `await using` stops them all. */
export class RedisServers implements AsyncDisposable {
  /** The servers, in start order. */
  readonly servers: RedisServer[];

  private constructor(servers: RedisServer[]) {
    this.servers = servers;
  }

  /** Starts `count` servers on free ports. */
  static async start(count: number): Promise<RedisServers> {
    const servers = Array.from({ length: count }, () => new RedisServer());
    const group = new RedisServers(servers);
    try {
      await Promise.all(servers.map((s) => s.start()));
    } catch (error) {
      await group.stop();
      throw error;
    }
    return group;
  }

  /** Their URLs. */
  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  /** Stops every server. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  /** Same as {@linkcode stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * The number of clients connected to `server` once it settled on `expected` (or its last count
 * after `ms`): a server counts a connection until it has read its end, a moment after the client
 * closed it — longer on a loaded machine (an immediate check failed so, tests/FLAKES.md).
 */
export async function settledClients(
  server: RedisServer,
  expected: number,
  ms = 2000,
): Promise<number> {
  const deadline = performance.now() + ms;
  for (;;) {
    const count = await server.connectedClients();
    if (count === expected || performance.now() > deadline) return count;
    await new Promise((r) => setTimeout(r, 20));
  }
}
