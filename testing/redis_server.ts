/**
 * A private `redis-server` for a test: {@linkcode startRedis} starts one on a free loopback port,
 * without persistence unless a restart keeps the data, and `await using` stops it.
 *
 * ```ts ignore
 * import { startRedis } from "@switchboard/switchboard/testing";
 *
 * await using redis = await startRedis();
 * const layer = new RedisPubSubChannelLayer({ url: redis.url });
 * redis.pause();                        // SIGSTOP: connections hang
 * redis.resume();
 * await redis.restart();                // back empty, on the same port
 * ```
 *
 * @module
 */
import { LocalService, type ServiceKind, type ServiceOptions, tcpExchange } from "./services.ts";

/**
 * Sends one inline command to the Redis server on `port` and resolves with the first line of its
 * reply (`+PONG`, `:3`, `$5`…), or rejects.
 */
export async function redisCommand(
  port: number,
  command: string,
  timeoutMs = 500,
): Promise<string> {
  const data = await tcpExchange(port, `${command}\r\n`, (d) => d.includes("\r\n"), timeoutMs);
  return data.split("\r\n")[0];
}

/** The text of `INFO <section>` from the Redis server on `port`. */
async function redisInfo(port: number, section: string, field: string): Promise<string> {
  const data = await tcpExchange(
    port,
    `INFO ${section}\r\n`,
    (d) => new RegExp(`${field}:[^\\r]*\\r\\n`).test(d),
  );
  return new RegExp(`${field}:([^\\r]*)\\r\\n`).exec(data)![1];
}

/** One private `redis-server` child process (see {@linkcode startRedis}). */
export class RedisServer extends LocalService {
  /** `"redis"`. */
  readonly kind: ServiceKind = "redis";

  /**
   * Prepares a server on `port` (a free one by default; its `url` is known at once); call
   * {@linkcode start}. Takes a port or {@linkcode ServiceOptions}.
   */
  constructor(options: number | ServiceOptions = {}) {
    super(typeof options === "number" ? { port: options } : options);
  }

  /** The arguments: loopback, the port, a private store, no automatic saves. */
  protected async argsFor(port: number): Promise<string[]> {
    return [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      await this.storeDir(),
      "--dbfilename",
      "dump.rdb",
      "--save",
      "",
      "--appendonly",
      "no",
      "--loglevel",
      "warning",
    ];
  }

  /** PINGs, then checks the server's `process_id` is this child's. */
  protected async answers(port: number, pid: number): Promise<boolean> {
    if ((await redisCommand(port, "PING")) !== "+PONG") return false;
    return Number(await redisInfo(port, "server", "process_id")) === pid;
  }

  /** `SAVE`: writes the data set to the store, loaded again by the next start. */
  protected async persist(): Promise<void> {
    const reply = await redisCommand(this.port, "SAVE", 10_000);
    if (reply !== "+OK") throw new Error(`redis SAVE failed: ${reply}`);
  }

  /** `FLUSHALL` on this private server: every key is gone, connections stay. */
  async flush(): Promise<void> {
    const reply = await redisCommand(this.port, "FLUSHALL", 5_000);
    if (reply !== "+OK") throw new Error(`redis FLUSHALL failed: ${reply}`);
  }

  /** Sends one inline command (`"DBSIZE"`) and returns the first reply line (`":3"`). */
  command(command: string, timeoutMs = 1000): Promise<string> {
    return redisCommand(this.port, command, timeoutMs);
  }

  /** Number of clients connected to the server (the query's own connection not counted). */
  async connectedClients(): Promise<number> {
    return Number(await redisInfo(this.port, "clients", "connected_clients")) - 1;
  }
}

/**
 * Starts a private `redis-server` on a free loopback port and waits until it answers. Throws a
 * {@linkcode ServiceUnavailableError} when the binary is missing (decide skipping beforehand with
 * `skipUnless("redis")`). Dispose it (`await using`) to stop it and remove its store.
 */
export function startRedis(options: ServiceOptions = {}): Promise<RedisServer> {
  return new RedisServer(options).start();
}
