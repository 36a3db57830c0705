/**
 * A private `nats-server` with JetStream for a test: {@linkcode startNats} starts one on a free
 * loopback port with its own store directory, and `await using` stops it and removes the store.
 *
 * ```ts ignore
 * import { startNats } from "@switchboard/switchboard/testing";
 *
 * await using nats = await startNats();
 * // connect your NATS client to nats.url
 * await nats.restart({ keepData: true }); // streams survive
 * ```
 *
 * @module
 */
import { createConnection } from "node:net";
import { LocalService, type ServiceKind, type ServiceOptions, tcpExchange } from "./services.ts";

/** The `INFO` a NATS server greets every client with. */
async function natsInfo(port: number): Promise<Record<string, unknown>> {
  const data = await tcpExchange(port, undefined, (d) => d.includes("\r\n"));
  const line = data.split("\r\n")[0];
  if (!line.startsWith("INFO ")) throw new Error(`not a NATS server: ${line.slice(0, 80)}`);
  return JSON.parse(line.slice(5));
}

/**
 * Sends JetStream API requests over one raw NATS connection; resolves with each reply's JSON.
 */
function jsRequests(
  port: number,
  requests: Array<{ subject: string; body: string }>,
  timeoutMs = 5000,
): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let buffer = "";
    const replies: unknown[] = [];
    let sent = false;
    const timer = setTimeout(() => finish(new Error("JetStream API did not answer")), timeoutMs);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(replies);
    };
    socket.on("error", (e) => finish(e));
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      if (!sent && buffer.includes("\r\n")) {
        sent = true;
        buffer = buffer.slice(buffer.indexOf("\r\n") + 2);
        let out = `CONNECT {"verbose":false,"pedantic":false}\r\nSUB _sb_kit_reply 1\r\n`;
        for (const r of requests) {
          out += `PUB ${r.subject} _sb_kit_reply ${new TextEncoder().encode(r.body).length}\r\n` +
            `${r.body}\r\n`;
        }
        socket.write(out);
      }
      while (true) {
        const m = /^MSG \S+ \S+ (\d+)\r\n/.exec(buffer);
        if (!m) {
          const eol = buffer.indexOf("\r\n");
          if (eol !== -1 && !buffer.startsWith("MSG ")) {
            const line = buffer.slice(0, eol);
            if (line.startsWith("-ERR")) return finish(new Error(`NATS: ${line}`));
            buffer = buffer.slice(eol + 2); // PING, +OK, INFO
            if (line === "PING") socket.write("PONG\r\n");
            continue;
          }
          break;
        }
        const start = m[0].length;
        const size = Number(m[1]);
        if (buffer.length < start + size + 2) break;
        replies.push(JSON.parse(buffer.slice(start, start + size)));
        buffer = buffer.slice(start + size + 2);
        if (replies.length === requests.length) return finish();
      }
    });
  });
}

/** One private `nats-server -js` child process (see {@linkcode startNats}). */
export class NatsServer extends LocalService {
  /** `"nats"`. */
  readonly kind: ServiceKind = "nats";
  #name = "";

  /** Prepares a server (a free port is chosen now); call {@linkcode start}. */
  constructor(options: number | ServiceOptions = {}) {
    super(typeof options === "number" ? { port: options } : options);
  }

  /** The arguments: loopback, the port, JetStream on a private store, a unique server name. */
  protected async argsFor(port: number): Promise<string[]> {
    this.#name = `switchboard-kit-${crypto.randomUUID()}`;
    return [
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-js",
      "-sd",
      await this.storeDir(),
      "-n",
      this.#name,
    ];
  }

  /** Reads the greeting `INFO` and checks its server name is this child's. */
  protected async answers(port: number): Promise<boolean> {
    const info = await natsInfo(port);
    return info.server_name === this.#name && info.jetstream === true;
  }

  /** A graceful shutdown (SIGTERM), so JetStream has flushed its store. */
  protected persist(): Promise<void> {
    return this.terminate();
  }

  /** Deletes every JetStream stream (KV buckets and object stores included); connections stay. */
  async flush(): Promise<void> {
    const [names] = await jsRequests(this.port, [{ subject: "$JS.API.STREAM.NAMES", body: "{}" }]);
    const streams = (names as { streams?: string[] | null }).streams ?? [];
    if (streams.length === 0) return;
    const replies = await jsRequests(
      this.port,
      streams.map((s) => ({ subject: `$JS.API.STREAM.DELETE.${s}`, body: "" })),
    );
    const failed = replies.find((r) => (r as { error?: unknown }).error);
    if (failed) throw new Error(`NATS stream delete failed: ${JSON.stringify(failed)}`);
  }

  /** Runs JetStream API requests (`$JS.API.…` subjects) and returns their JSON replies. */
  jetStreamApi(
    requests: Array<{ subject: string; body?: string }>,
    timeoutMs = 5000,
  ): Promise<unknown[]> {
    const list = requests.map((r) => ({ subject: r.subject, body: r.body ?? "" }));
    return jsRequests(this.port, list, timeoutMs);
  }
}

/**
 * Starts a private `nats-server` with JetStream (`-js`, its own temporary store) on a free
 * loopback port and waits until it answers. Throws a {@linkcode ServiceUnavailableError} when the
 * binary is missing (decide skipping beforehand with `skipUnless("nats")`). Dispose it
 * (`await using`) to stop it and remove the store.
 */
export function startNats(options: ServiceOptions = {}): Promise<NatsServer> {
  return new NatsServer(options).start();
}
