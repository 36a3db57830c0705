/**
 * A TCP proxy for fault-injection tests: put it in front of a server (Redis, NATS, an app) and
 * drop every connection, or hold all traffic, at the exact moment a test needs it. Works on
 * Deno, Node and Bun (it uses `node:net`).
 *
 * ```ts ignore
 * import { TcpProxy } from "@switchboard/switchboard/testing";
 *
 * const proxy = await TcpProxy.start({ port: 6379 });
 * const layer = new RedisPubSubChannelLayer({ url: proxy.url("redis") });
 * proxy.pause();          // commands are sent but neither they nor replies get through
 * const leaving = layer.groupDiscard("room", channel);
 * proxy.dropAll();        // the connection drops with the UNSUBSCRIBE in flight
 * proxy.resume();
 * await proxy.close();
 * ```
 *
 * @module
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

/** Where a {@linkcode TcpProxy} forwards to. */
export interface TcpProxyTarget {
  /** Target host. Default `127.0.0.1`. */
  host?: string;
  /** Target port. */
  port: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Chunks held while paused, per direction. */
  toUpstream: Uint8Array[];
  toClient: Uint8Array[];
}

/**
 * A loopback TCP proxy in front of one target. Every accepted connection opens one connection
 * to the target and bytes are copied both ways until either side closes.
 */
export class TcpProxy {
  /** The address the proxy listens on (always loopback). */
  readonly host: string = "127.0.0.1";
  /** The port the proxy listens on (a free one, chosen at start). */
  readonly port: number;
  #target: Readonly<Required<TcpProxyTarget>>;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #paused = false;
  #accepted = 0;
  #waiters: Array<{ count: number; resolve: () => void }> = [];
  #heldBytes = 0;
  #heldWaiters: Array<() => void> = [];

  private constructor(server: Server, port: number, target: Required<TcpProxyTarget>) {
    this.#server = server;
    this.port = port;
    this.#target = target;
    server.on("connection", (client) => this.#accept(client));
  }

  /** Starts a proxy on a free loopback port in front of `target` (a port or host and port). */
  static start(target: TcpProxyTarget | number): Promise<TcpProxy> {
    const t = typeof target === "number" ? { port: target } : target;
    const resolved = { host: t.host ?? "127.0.0.1", port: t.port };
    if (!Number.isInteger(resolved.port) || resolved.port <= 0 || resolved.port > 65535) {
      return Promise.reject(new RangeError(`Not a TCP port: ${resolved.port}`));
    }
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        const address = server.address();
        const port = typeof address === "object" && address ? address.port : 0;
        resolve(new TcpProxy(server, port, resolved));
      });
    });
  }

  /** Where new connections are forwarded. */
  get target(): Readonly<Required<TcpProxyTarget>> {
    return this.#target;
  }

  /**
   * Forwards new connections to another target (open ones stay where they are): a fail-over,
   * or pairing proxies with servers after both were started.
   */
  retarget(target: TcpProxyTarget | number): void {
    const t = typeof target === "number" ? { port: target } : target;
    this.#target = { host: t.host ?? "127.0.0.1", port: t.port };
  }

  /** `scheme://127.0.0.1:port` (for example `proxy.url("redis")`). */
  url(scheme = "tcp"): string {
    return `${scheme}://${this.host}:${this.port}`;
  }

  /** Connections open through the proxy right now. */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Connections accepted since the start (dropped ones included). */
  get accepted(): number {
    return this.#accepted;
  }

  /** True while forwarding is paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Resolves once `count` connections in total have been accepted. */
  waitForConnections(count: number): Promise<void> {
    if (this.#accepted >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /**
   * Stops forwarding in both directions: connections stay open and the bytes either side sends
   * are held by the proxy until {@linkcode resume}. New connections are accepted and held the
   * same way. To the peers this looks like a server or network that stopped answering.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Forwards again, starting with what was held while paused. */
  resume(): void {
    this.#paused = false;
    this.#heldBytes = 0;
    for (const pair of this.#pairs) {
      for (const chunk of pair.toUpstream.splice(0)) pair.upstream.write(chunk);
      for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
    }
  }

  /** Bytes held since the last {@linkcode pause} (both directions). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Resolves once some bytes are held while paused: the completion signal that a command was
   * really sent (and is now stuck), for example before {@linkcode dropAll}.
   */
  waitForHeld(): Promise<void> {
    if (this.#heldBytes > 0) return Promise.resolve();
    return new Promise((resolve) => this.#heldWaiters.push(resolve));
  }

  /**
   * Drops every open connection at once (both sides are closed; bytes held by {@linkcode pause}
   * are discarded). Returns how many connections were dropped. New connections are accepted
   * as before.
   */
  dropAll(): number {
    const count = this.#pairs.size;
    for (const pair of [...this.#pairs]) this.#drop(pair);
    return count;
  }

  /** Drops every connection and stops listening. */
  async close(): Promise<void> {
    this.dropAll();
    for (const w of this.#waiters.splice(0)) w.resolve();
    for (const resolve of this.#heldWaiters.splice(0)) resolve();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const upstream = createConnection({ host: this.#target.host, port: this.#target.port });
    const pair: Pair = { client, upstream, toUpstream: [], toClient: [] };
    this.#pairs.add(pair);
    this.#accepted++;
    for (const w of [...this.#waiters]) {
      if (this.#accepted >= w.count) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const end = () => this.#drop(pair);
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    this.#forward(client, upstream, pair.toUpstream);
    this.#forward(upstream, client, pair.toClient);
  }

  /** Copies `from` → `to`, or into `held` while paused. */
  #forward(from: Socket, to: Socket, held: Uint8Array[]): void {
    from.on("data", (chunk: Uint8Array) => {
      if (this.#paused) {
        held.push(chunk);
        this.#heldBytes += chunk.byteLength;
        for (const resolve of this.#heldWaiters.splice(0)) resolve();
        return;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once("drain", () => from.resume());
      }
    });
  }

  #drop(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.toUpstream.length = 0;
    pair.toClient.length = 0;
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
