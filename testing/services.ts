/**
 * Private servers for fault tests: the shared machinery behind {@linkcode startRedis} and
 * {@linkcode startNats} — a child process of an installed binary on a free loopback port, bound
 * race-free (a server whose port was taken meanwhile is detected and started again on another
 * port), paused with SIGSTOP, restarted with or without its data, and stopped when the test ends.
 *
 * @module
 */
import { createConnection } from "node:net";

/** The services the kit can start. */
export type ServiceKind = "redis" | "nats";

const BINARIES: Record<ServiceKind, { env: string; bin: string }> = {
  redis: { env: "REDIS_SERVER_BIN", bin: "redis-server" },
  nats: { env: "NATS_SERVER_BIN", bin: "nats-server" },
};

/** The binary the kit runs for `kind` (`REDIS_SERVER_BIN` / `NATS_SERVER_BIN` override it). */
export function serviceBinary(kind: ServiceKind): string {
  const b = BINARIES[kind];
  return Deno.env.get(b.env) ?? b.bin;
}

/** Skip reasons by binary path (the check runs once per binary). */
const skipCache = new Map<string, string | undefined>();

/**
 * Why a `kind` server cannot be started here (the binary is missing or does not run), or
 * `undefined` when it can. Synchronous, so it can decide `Deno.test({ ignore })`. `bin`: the
 * binary to check instead of {@linkcode serviceBinary}'s (a test of this check passes one, rather
 * than setting the process's environment, which other test files read meanwhile).
 */
export function skipReason(
  kind: ServiceKind,
  bin: string = serviceBinary(kind),
): string | undefined {
  if (skipCache.has(bin)) return skipCache.get(bin);
  let reason: string | undefined;
  try {
    const out = new Deno.Command(bin, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    if (!out.success) reason = `'${bin} --version' failed (exit ${out.code})`;
  } catch (error) {
    reason = error instanceof Deno.errors.NotFound
      ? `${bin} is not installed (not on PATH; set ${BINARIES[kind].env} to its path)`
      : `${bin} cannot be run: ${(error as Error).message}`;
  }
  skipCache.set(bin, reason);
  return reason;
}

/**
 * `true` when the test must be skipped because a `kind` server cannot be started; logs the
 * reason once. Made for `Deno.test({ name, ignore: skipUnless("redis"), fn })`. `bin`: as for
 * {@linkcode skipReason}.
 */
export function skipUnless(kind: ServiceKind, bin: string = serviceBinary(kind)): boolean {
  const known = skipCache.has(bin);
  const reason = skipReason(kind, bin);
  if (reason && !known) console.warn(`skipping ${kind} tests: ${reason}`);
  return reason !== undefined;
}

/** Thrown by `startRedis` / `startNats` when the binary is missing; `message` says why. */
export class ServiceUnavailableError extends Error {
  /** Which service. */
  readonly kind: ServiceKind;
  /** Creates the error. */
  constructor(kind: ServiceKind, reason: string) {
    super(`Cannot start a ${kind} server: ${reason}`);
    this.name = "ServiceUnavailableError";
    this.kind = kind;
  }
}

/**
 * A free TCP port on 127.0.0.1. The listener is closed before returning, so another process may
 * take the port before it is used: the servers of this kit detect that and retry.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Opens a TCP connection to 127.0.0.1:`port`, writes `request` (if any) and resolves with what
 * arrived once `complete(data)` is true, or rejects on error, close or `timeoutMs`.
 */
export function tcpExchange(
  port: number,
  request: string | undefined,
  complete: (data: string) => boolean,
  timeoutMs = 1000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let data = "";
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(data);
    };
    const timer = setTimeout(
      () => finish(new Error(`no answer from 127.0.0.1:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on("error", (e) => finish(e));
    socket.on("close", () => finish(new Error(`127.0.0.1:${port} closed the connection`)));
    socket.on("connect", () => {
      if (request !== undefined) socket.write(request);
    });
    socket.on("data", (chunk) => {
      data += chunk.toString();
      if (complete(data)) finish();
    });
  });
}

/**
 * Waits (at most 1 s) until every thread of process `pid` is stopped, from /proc (Linux; elsewhere
 * it returns at once). `kill(SIGSTOP)` returns before a multi-threaded server has stopped: a
 * request sent right after could still be answered (nats-server did, 2 times in 30).
 */
function waitUntilStopped(pid: number): void {
  const deadline = performance.now() + 1000;
  while (performance.now() < deadline) {
    try {
      let running = false;
      for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
        const stat = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/stat`);
        const state = stat[stat.lastIndexOf(")") + 2]; // the field after "(name)"
        if (state !== "T" && state !== "t") running = true;
      }
      if (!running) return;
    } catch {
      return; // no /proc (or the process is gone)
    }
  }
}

/** Options of {@linkcode LocalService.restart}. */
export interface RestartOptions {
  /**
   * Keep the data (default `false`: the server comes back empty, as after a crash without
   * persistence). With `true` the server is stopped cleanly after saving and started on the same
   * store.
   */
  keepData?: boolean;
}

/** Options shared by the kit's servers. */
export interface ServiceOptions {
  /** The port to listen on; fails when it is taken (default: a free one, see `preferredPort`). */
  port?: number;
  /** A port to try first; when it is taken, another free port is used. */
  preferredPort?: number;
  /** The binary (default `redis-server` / `nats-server`, or the `*_SERVER_BIN` variable). */
  bin?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** How long to wait for the server to answer, in ms (default 10 000). */
  startTimeoutMs?: number;
}

const BIND_ATTEMPTS = 5;
const STDERR_TAIL = 4096;

/**
 * One server process (the common part of {@linkcode RedisServer} and {@linkcode NatsServer}).
 * Keeps its port across restarts; `stop()` or `await using` kills it and removes its store.
 */
export abstract class LocalService implements AsyncDisposable {
  /** Which service. */
  abstract readonly kind: ServiceKind;
  #port: number;
  readonly #fixedPort: boolean;
  #started = false;
  #child: Deno.ChildProcess | undefined;
  #stderr: Promise<string> | undefined;
  /** How the running process ended, when nothing here stopped it (see {@linkcode exitReport}). */
  #exit: Deno.CommandStatus | undefined;
  /** Set while {@linkcode terminate} stops the process (an exit then is not "by itself"). */
  #stopping = false;
  #dir: string | undefined;
  #paused = false;
  #resumeTimer: ReturnType<typeof setTimeout> | undefined;
  #resumeWaiters: Array<() => void> = [];
  /** The options it was created with. */
  protected readonly options: ServiceOptions;

  /** Prepares a server (a free port is chosen now); call {@linkcode start}. */
  constructor(options: ServiceOptions = {}) {
    this.options = options;
    this.#fixedPort = options.port !== undefined;
    this.#port = options.port ?? options.preferredPort ?? freePort();
  }

  /** The port it listens on (kept across restarts). */
  get port(): number {
    return this.#port;
  }

  /** The client URL: `redis://127.0.0.1:<port>` or `nats://127.0.0.1:<port>`. */
  get url(): string {
    return `${this.kind}://127.0.0.1:${this.#port}`;
  }

  /** True while the process runs (paused included). */
  get running(): boolean {
    return this.#child !== undefined && this.#exit === undefined;
  }

  /**
   * Undefined while the server runs or after this object stopped it; otherwise how its process
   * ended by itself (or was killed from outside), with the end of what it wrote to stderr: for a
   * test whose server went away under it.
   */
  async exitReport(): Promise<string | undefined> {
    const exit = this.#exit;
    if (!exit) return undefined;
    const err = (await (this.#stderr ?? Promise.resolve(""))).trim();
    return `the ${this.kind} server on port ${this.#port} exited by itself (code ${exit.code}${
      exit.signal ? `, signal ${exit.signal}` : ""
    })${err ? `: ${err}` : ""}`;
  }

  /** True while paused with SIGSTOP. */
  get paused(): boolean {
    return this.#paused;
  }

  /** The process id, while running. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The directory the server keeps its data in (created at the first start). */
  protected async storeDir(): Promise<string> {
    this.#dir ??= await Deno.makeTempDir({ prefix: `switchboard-${this.kind}-` });
    return this.#dir;
  }

  /** The command-line arguments for a server on `port`. */
  protected abstract argsFor(port: number): Promise<string[]>;

  /** True when the server on `port` answers and is this process (`pid`), not another one. */
  protected abstract answers(port: number, pid: number): Promise<boolean>;

  /**
   * Makes the data survive the stop of a `keepData` restart (a Redis SAVE, a graceful NATS
   * shutdown).
   */
  protected abstract persist(): Promise<void>;

  /** Sends SIGTERM and waits for the process to exit (a clean shutdown). */
  protected async terminate(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#stopping = true;
    try {
      child.kill("SIGTERM");
      await child.status;
    } finally {
      this.#stopping = false;
    }
  }

  /** Deletes every key, stream or bucket, keeping connections open. */
  abstract flush(): Promise<void>;

  /**
   * Starts the server and waits until it answers. When its port was taken by another process in
   * the meantime (the bind failed, or something else answers there), it starts again on another
   * free port — unless the port was given, or the server already ran (restarts keep the port).
   */
  async start(): Promise<this> {
    if (this.#child && this.#exit === undefined) return this;
    if (this.#child) await this.#kill(); // it exited by itself: start anew
    const reason = this.options.bin ? undefined : skipReason(this.kind);
    if (reason) throw new ServiceUnavailableError(this.kind, reason);
    let lastError = "";
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const outcome = await this.#spawnOnce();
      if (outcome === "ready") {
        this.#started = true;
        return this;
      }
      lastError = outcome;
      if (this.#fixedPort || this.#started) break;
      this.#port = freePort();
    }
    throw new Error(`${this.kind} server did not start on 127.0.0.1:${this.#port}: ${lastError}`);
  }

  /** One try on the current port: `"ready"`, or why not. */
  async #spawnOnce(): Promise<string> {
    const bin = this.options.bin ?? serviceBinary(this.kind);
    const args = [...await this.argsFor(this.#port), ...(this.options.args ?? [])];
    const child = new Deno.Command(bin, { args, stdin: "null", stdout: "null", stderr: "piped" })
      .spawn();
    this.#child = child;
    this.#exit = undefined;
    this.#stderr = tail(child.stderr);
    let exited: Deno.CommandStatus | undefined;
    child.status.then((s) => {
      exited = s;
      if (this.#child === child && !this.#stopping) this.#exit = s;
    });
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000);
    while (true) {
      if (exited) break;
      try {
        if (await this.answers(this.#port, child.pid)) return "ready";
      } catch {
        // not listening yet
      }
      if (exited || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.#kill();
    const err = (await this.#stderrText()).trim();
    return exited
      ? `the process exited (code ${exited.code})${err ? `: ${err}` : ""}`
      : `no answer within ${
        this.options.startTimeoutMs ?? 10_000
      } ms (or another process holds the port)`;
  }

  async #stderrText(): Promise<string> {
    const s = this.#stderr;
    this.#stderr = undefined;
    return s ? await s : "";
  }

  async #kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    this.#clearPause();
    try {
      child.kill("SIGCONT"); // a paused process dies too, but let it not linger stopped
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    await this.#stderrText();
  }

  #clearPause(): void {
    clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
    this.#paused = false;
    for (const resolve of this.#resumeWaiters.splice(0)) resolve();
  }

  /**
   * Kills the server with SIGKILL (an abrupt outage), waits for the process to exit and removes
   * its store: a later {@linkcode start} comes back empty on the same port.
   */
  async stop(): Promise<void> {
    await this.#kill();
    if (this.#dir) await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    this.#dir = undefined;
  }

  /** Same as {@linkcode stop}. */
  close(): Promise<void> {
    return this.stop();
  }

  /** `await using` support: {@linkcode stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * Freezes the server (SIGSTOP): connections stay open and nothing is answered, as with a hung
   * host or a stop-the-world pause. With `ms`, it continues by itself after that long and the
   * returned promise resolves then; without, {@linkcode resume} continues it.
   */
  pause(): void;
  /** Freezes the server for `ms`, then continues it; resolves once continued. */
  pause(ms: number): Promise<void>;
  pause(ms?: number): void | Promise<void> {
    const child = this.#child;
    if (!child) throw new Error(`${this.kind} server is not running`);
    child.kill("SIGSTOP");
    waitUntilStopped(child.pid);
    this.#paused = true;
    if (ms === undefined) return;
    clearTimeout(this.#resumeTimer);
    const resumed = new Promise<void>((resolve) => this.#resumeWaiters.push(resolve));
    this.#resumeTimer = setTimeout(() => this.resume(), ms);
    return resumed;
  }

  /** Continues a paused server (SIGCONT). */
  resume(): void {
    if (this.#paused) this.#child?.kill("SIGCONT");
    this.#clearPause();
  }

  /**
   * Stops and starts the server on the same port. By default the data is lost (SIGKILL, then an
   * empty store); with `keepData: true` it is saved first and loaded again.
   */
  async restart(options: RestartOptions = {}): Promise<void> {
    if (this.#paused) this.resume();
    if (options.keepData && this.#child) await this.persist();
    await this.#kill();
    if (!options.keepData && this.#dir) {
      await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
      this.#dir = undefined;
    }
    await this.start();
  }
}

/** Reads a stream to its end, keeping the last few KB as text. */
async function tail(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    text = (text + decoder.decode(chunk, { stream: true })).slice(-STDERR_TAIL);
  }
  return text;
}
