/**
 * Test harness: a TCP relay in front of a server (Redis) on a free loopback port, so a test can
 * cut the connections that go through it and refuse new ones for as long as it likes, while
 * other connections to the same server stay up. Used to drop one connection of a client and let
 * the others live (for example a subscriber reconnecting before a command connection).
 *
 * @module
 */

/** A relay from `127.0.0.1:<port>` to `127.0.0.1:<targetPort>`. */
export class TcpRelay implements AsyncDisposable {
  /** The port it listens on (kept across {@linkcode refuse} / {@linkcode accept}). */
  readonly port: number;
  readonly #target: number;
  #listener: Deno.Listener | undefined;
  #accepting: Promise<void> | undefined;
  #pairs = new Set<{ close(): void; done: Promise<void> }>();
  /** How many connections were accepted so far. */
  accepted = 0;

  private constructor(port: number, target: number) {
    this.port = port;
    this.#target = target;
  }

  /** Starts a relay to `targetPort` on a free port. */
  static start(targetPort: number): TcpRelay {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const relay = new TcpRelay((listener.addr as Deno.NetAddr).port, targetPort);
    relay.#listen(listener);
    return relay;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Closes every connection relayed now (both sides); new ones are still accepted. */
  async drop(): Promise<void> {
    const pairs = [...this.#pairs];
    for (const p of pairs) p.close();
    await Promise.all(pairs.map((p) => p.done));
  }

  /** Closes every relayed connection and refuses new ones (the port stops listening). */
  async refuse(): Promise<void> {
    const listener = this.#listener;
    this.#listener = undefined;
    try {
      listener?.close();
    } catch {
      // already closed
    }
    await this.#accepting;
    await this.drop();
  }

  /** Listens again on the same port after {@linkcode refuse}. */
  accept(): void {
    if (this.#listener) return;
    this.#listen(Deno.listen({ hostname: "127.0.0.1", port: this.port }));
  }

  /** Refuses new connections and closes the relayed ones. */
  close(): Promise<void> {
    return this.refuse();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #listen(listener: Deno.Listener): void {
    this.#listener = listener;
    this.#accepting = (async () => {
      while (true) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch {
          return; // listener closed
        }
        this.accepted++;
        this.#relay(conn);
      }
    })();
  }

  #relay(client: Deno.Conn): void {
    let upstream: Deno.Conn | undefined;
    let closed = false;
    const closeAll = () => {
      if (closed) return;
      closed = true;
      for (const c of [client, upstream]) {
        try {
          c?.close();
        } catch {
          // already closed
        }
      }
    };
    const pump = async (from: Deno.Conn, to: Deno.Conn) => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        while (true) {
          const n = await from.read(buffer);
          if (n === null) break;
          let off = 0;
          while (off < n) off += await to.write(buffer.subarray(off, n));
        }
      } catch {
        // closed under us
      }
      closeAll();
    };
    const pair = {
      close: closeAll,
      done: (async () => {
        try {
          upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
        } catch {
          closeAll();
          return;
        }
        if (closed) {
          upstream.close();
          return;
        }
        await Promise.all([pump(client, upstream), pump(upstream, client)]);
      })(),
    };
    this.#pairs.add(pair);
    pair.done.finally(() => this.#pairs.delete(pair));
  }
}
