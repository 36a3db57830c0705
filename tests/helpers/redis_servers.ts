/**
 * Test harness: starts private `redis-server` processes on free loopback ports, waits until they
 * answer PING, restarts one on the same port, and stops them all.
 *
 * @module
 */
import { createConnection } from "node:net";

/** The `redis-server` binary (override with `REDIS_SERVER_BIN`). */
export const REDIS_SERVER_BIN: string = Deno.env.get("REDIS_SERVER_BIN") ?? "redis-server";

/** True when a `redis-server` binary can be started. */
export async function hasRedisServer(): Promise<boolean> {
  try {
    const out = await new Deno.Command(REDIS_SERVER_BIN, { args: ["--version"], stdout: "null" })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1 (the listener is closed before returning). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Sends one inline command and resolves with the first reply line, or rejects. */
export function rawCommand(port: number, command: string, timeoutMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from 127.0.0.1:${port}`));
    }, timeoutMs);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(data.split("\r\n")[0]);
    };
    socket.on("error", (e) => finish(e));
    socket.on("connect", () => socket.write(`${command}\r\n`));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      if (data.includes("\r\n")) finish();
    });
  });
}

/** One `redis-server` child process. */
export class RedisServer {
  /** The port it listens on (kept across restarts). */
  readonly port: number;
  #child: Deno.ChildProcess | undefined;

  /** Prepares a server on `port` (a free one by default); call {@linkcode start}. */
  constructor(port: number = freePort()) {
    this.port = port;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** True while the child process runs. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the server without persistence and waits until it answers PING. */
  async start(): Promise<this> {
    if (this.#child) return this;
    this.#child = new Deno.Command(REDIS_SERVER_BIN, {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + 10_000;
    while (true) {
      try {
        if ((await rawCommand(this.port, "PING")) === "+PONG") return this;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server did not answer PING on port ${this.port}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kills the server (SIGKILL: an abrupt outage) and waits for the process to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill("SIGCONT"); // a paused server is killed too, but let it not linger stopped
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
  }

  /**
   * Freezes the server (SIGSTOP): connections stay open, nothing is answered, as with a hung
   * host or a stop-the-world pause. {@linkcode resume} continues it.
   */
  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  /** Continues a paused server (SIGCONT). */
  resume(): void {
    this.#child?.kill("SIGCONT");
  }

  /** Stops and starts the server on the same port (all data is lost). */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Number of clients connected to the server, from `INFO clients`. */
  async connectedClients(): Promise<number> {
    const info = await infoClients(this.port);
    return info;
  }
}

async function infoClients(port: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("INFO timed out"));
    }, 1000);
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on("connect", () => socket.write("INFO clients\r\n"));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      const m = /connected_clients:(\d+)\r\n/.exec(data);
      if (m) {
        clearTimeout(timer);
        socket.destroy();
        // The INFO connection itself is counted.
        resolve(Number(m[1]) - 1);
      }
    });
  });
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
