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
 * proxy.freeze();         // commands are sent but neither they nor replies get through
 * const leaving = layer.groupDiscard("room", channel);
 * proxy.cut();            // the connection drops with the UNSUBSCRIBE in flight
 * proxy.refuse();         // and reconnecting fails…
 * proxy.latency(200);     // …then works, slowly
 * proxy.heal();
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

/** A direction of the traffic through a {@linkcode TcpProxy}. */
export type TcpDirection = "toUpstream" | "toClient";

/** Added latency per direction, in ms (see {@linkcode TcpProxy.latency}). */
export interface TcpLatency {
  /** Delay of the bytes the clients send to the target. */
  toUpstream?: number;
  /** Delay of the bytes the target sends back to the clients. */
  toClient?: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Chunks held while paused, per direction. */
  toUpstream: Uint8Array[];
  toClient: Uint8Array[];
  /** Chunks waiting out the added latency, per direction, in order. */
  delayed: Record<TcpDirection, Array<{ chunk: Uint8Array; due: number }>>;
  timers: Partial<Record<TcpDirection, ReturnType<typeof setTimeout>>>;
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
  #refusing = false;
  #refused = 0;
  #latency: Record<TcpDirection, number> = { toUpstream: 0, toClient: 0 };

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
      for (const chunk of pair.toUpstream.splice(0)) this.#send(pair, "toUpstream", chunk);
      for (const chunk of pair.toClient.splice(0)) this.#send(pair, "toClient", chunk);
    }
  }

  /**
   * The network freezes: same as {@linkcode pause} (connections stay open, nothing gets through,
   * bytes are held). {@linkcode heal} or {@linkcode resume} lets them through.
   */
  freeze(): void {
    this.pause();
  }

  /**
   * The connections are cut: same as {@linkcode dropAll} (every open connection is closed on both
   * sides without a goodbye). New connections go through as before. Returns how many were cut.
   */
  cut(): number {
    return this.dropAll();
  }

  /**
   * New connections are refused: each one is closed as soon as it is accepted, before any byte is
   * forwarded (the client sees its connection reset or closed), until {@linkcode heal}. Open
   * connections are left alone — {@linkcode cut} them too for a full outage.
   */
  refuse(): void {
    this.#refusing = true;
  }

  /** True while new connections are refused. */
  get refusing(): boolean {
    return this.#refusing;
  }

  /** Connections refused since the start. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * Adds latency: every chunk is forwarded `ms` later than it arrived (order kept). A number
   * delays both directions; `{toUpstream, toClient}` sets each one (an omitted direction keeps
   * its delay). `latency(0)` removes it.
   */
  latency(ms: number | TcpLatency): void {
    const next = typeof ms === "number" ? { toUpstream: ms, toClient: ms } : ms;
    for (const dir of ["toUpstream", "toClient"] as const) {
      const v = next[dir];
      if (v === undefined) continue;
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`latency must be >= 0 ms, got ${v}`);
      this.#latency[dir] = v;
    }
  }

  /** The added latency per direction, in ms. */
  get addedLatency(): Readonly<Required<TcpLatency>> {
    return { ...this.#latency };
  }

  /**
   * The network is healthy again: undoes {@linkcode freeze} (held bytes are forwarded),
   * {@linkcode refuse} and {@linkcode latency}. Cut connections stay cut; clients reconnect.
   */
  heal(): void {
    this.#refusing = false;
    this.#latency = { toUpstream: 0, toClient: 0 };
    this.resume();
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

  /** {@linkcode close}, for `await using proxy = await TcpProxy.start(…)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #accept(client: Socket): void {
    if (this.#refusing) {
      this.#refused++;
      client.on("error", () => {});
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: this.#target.host, port: this.#target.port });
    const pair: Pair = {
      client,
      upstream,
      toUpstream: [],
      toClient: [],
      delayed: { toUpstream: [], toClient: [] },
      timers: {},
    };
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
    this.#forward(pair, "toUpstream");
    this.#forward(pair, "toClient");
  }

  /** Copies one direction of `pair`, or into its held chunks while paused. */
  #forward(pair: Pair, dir: TcpDirection): void {
    const from = dir === "toUpstream" ? pair.client : pair.upstream;
    from.on("data", (chunk: Uint8Array) => {
      if (this.#paused) {
        pair[dir].push(chunk);
        this.#heldBytes += chunk.byteLength;
        for (const resolve of this.#heldWaiters.splice(0)) resolve();
        return;
      }
      this.#send(pair, dir, chunk);
    });
  }

  /** Writes `chunk` in direction `dir` now, or after the added latency (in order). */
  #send(pair: Pair, dir: TcpDirection, chunk: Uint8Array): void {
    const [from, to] = dir === "toUpstream"
      ? [pair.client, pair.upstream]
      : [pair.upstream, pair.client];
    const queue = pair.delayed[dir];
    const delay = this.#latency[dir];
    if (delay <= 0 && queue.length === 0) {
      if (!to.write(chunk)) {
        from.pause();
        to.once("drain", () => from.resume());
      }
      return;
    }
    queue.push({ chunk, due: performance.now() + delay });
    this.#schedule(pair, dir);
  }

  #schedule(pair: Pair, dir: TcpDirection): void {
    const queue = pair.delayed[dir];
    if (pair.timers[dir] !== undefined || queue.length === 0) return;
    const to = dir === "toUpstream" ? pair.upstream : pair.client;
    pair.timers[dir] = setTimeout(() => {
      pair.timers[dir] = undefined;
      const now = performance.now();
      while (queue.length > 0 && queue[0].due <= now + 1) to.write(queue.shift()!.chunk);
      this.#schedule(pair, dir);
    }, Math.max(0, queue[0].due - performance.now()));
  }

  #drop(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.toUpstream.length = 0;
    pair.toClient.length = 0;
    for (const dir of ["toUpstream", "toClient"] as const) {
      clearTimeout(pair.timers[dir]);
      pair.delayed[dir].length = 0;
    }
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
