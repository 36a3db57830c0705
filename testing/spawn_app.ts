/**
 * A second server process of the user's app, for cross-process and crash tests:
 * {@linkcode spawnApp} runs a module that serves on `PORT` (from its environment) with
 * `deno run`, resolves once the port accepts connections, and kills it with SIGKILL when asked.
 *
 * ```ts ignore
 * import { spawnApp } from "@switchboard/switchboard/testing";
 *
 * await using other = await spawnApp("./main.ts", { REDIS_URL: redis.url });
 * // connect communicators to other.url …
 * const saved = other.waitForOutput(/^saved /); // a line the app prints from now on
 * // … make it save something, then:
 * await saved;
 * await other.kill(); // SIGKILL: a crash, no onDisconnect, no cleanup
 * ```
 *
 * @module
 */
import { freePort } from "./services.ts";

/** Options of {@linkcode spawnApp}. */
export interface SpawnAppOptions {
  /** The port (default: a free one, re-chosen when the app fails to bind it). */
  port?: number;
  /** Flags for `deno run` before the module (default `["-A"]`). */
  denoArgs?: string[];
  /** Arguments after the module. */
  args?: string[];
  /** The working directory of the process (default: this process's). */
  cwd?: string;
  /**
   * The whole command instead of `deno run`, e.g. `["node", "dist/main.js"]`; the module is then
   * not added.
   */
  command?: string[];
  /**
   * Ready once a line of the app's output matches (default: once the port accepts a TCP
   * connection).
   */
  ready?: RegExp;
  /** How long to wait until it is ready, in ms (default 20 000). */
  startTimeoutMs?: number;
}

/** How a spawned app process ended. */
export interface AppExitStatus {
  /** True when it exited with code 0. */
  readonly success: boolean;
  /** The exit code (128 + the signal number when a signal ended it). */
  readonly code: number;
  /** The signal that ended it (`"SIGKILL"`), or `null`. */
  readonly signal: string | null;
}

/** Options of {@linkcode SpawnedApp.waitForOutput}. */
export interface WaitForOutputOptions {
  /** How many matching lines to wait for (default 1). */
  count?: number;
  /** How long to wait, in ms (default 10 000); then the wait rejects with the app's output. */
  timeoutMs?: number;
}

/** A running app process (see {@linkcode spawnApp}). `await using` kills it. */
export interface SpawnedApp extends AsyncDisposable {
  /** `ws://127.0.0.1:<port>` — the communicator's `url`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`. */
  readonly httpUrl: string;
  /** The port it listens on. */
  readonly port: number;
  /** The process id. */
  readonly pid: number;
  /** Resolves when the process exits. */
  readonly status: Promise<AppExitStatus>;
  /** The last few KB of its stdout and stderr, interleaved (for failure messages). */
  output(): string;
  /**
   * Resolves with the lines (of stdout or stderr, without the line break) the app prints from
   * this call on that match `pattern`, once there are `count` of them: what a test awaits when
   * another process must have done something it logs. Rejects with the app's output after the
   * timeout, or when the process exits first.
   */
  waitForOutput(pattern: RegExp, options?: WaitForOutputOptions): Promise<string[]>;
  /**
   * Sends `signal` (default `SIGKILL`: a crash, nothing runs on the way out) and resolves with
   * the exit status once it exited. Idempotent.
   */
  kill(signal?: string): Promise<AppExitStatus>;
}

const OUTPUT_TAIL = 16_384;
const BIND_ATTEMPTS = 3;

/**
 * Runs `module` (a path relative to the working directory, or a URL such as
 * `import.meta.resolve("./main.ts")`) as a separate process with `deno run -A`, with `PORT` and
 * `env` added to this process's environment, and resolves once it listens on `PORT` (or printed
 * a line matching `ready`). Rejects with the app's output when it exits or times out first.
 */
export async function spawnApp(
  module: string | URL,
  env: Record<string, string> = {},
  options: SpawnAppOptions = {},
): Promise<SpawnedApp> {
  let lastError = "";
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const port = options.port ?? freePort();
    const result = await spawnOnce(String(module), env, options, port);
    if (typeof result !== "string") return result;
    lastError = result;
    if (options.port !== undefined || !/in use|AddrInUse/i.test(result)) break;
  }
  throw new Error(`spawnApp(${module}) did not start: ${lastError}`);
}

async function spawnOnce(
  module: string,
  env: Record<string, string>,
  options: SpawnAppOptions,
  port: number,
): Promise<SpawnedApp | string> {
  if (await accepts(port)) return `port ${port} is in use by another process`;
  const [cmd, ...cmdArgs] = options.command ??
    [Deno.execPath(), "run", ...(options.denoArgs ?? ["-A"]), module, ...(options.args ?? [])];
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    env: { ...env, PORT: String(port) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let sawReady = false;
  const lines = new LineWaiters(() => output);
  const onText = (text: string, stream: "out" | "err") => {
    output = (output + text).slice(-OUTPUT_TAIL);
    if (options.ready && !sawReady) sawReady = options.ready.test(output);
    lines.text(text, stream);
  };
  const readers = Promise.all([
    read(child.stdout, (t) => onText(t, "out")),
    read(child.stderr, (t) => onText(t, "err")),
  ]);
  let exited: Deno.CommandStatus | undefined;
  const status = child.status.then(async (s): Promise<AppExitStatus> => {
    exited = s;
    await readers;
    lines.exited(s.code);
    return { success: s.success, code: s.code, signal: s.signal };
  });
  const kill = async (signal = "SIGKILL") => {
    if (!exited) {
      try {
        child.kill(signal as Deno.Signal);
      } catch {
        // already gone
      }
    }
    return await status;
  };
  const timeout = options.startTimeoutMs ?? 20_000;
  const deadline = Date.now() + timeout;
  while (!exited) {
    // Something answering on the port is only our app if the listening socket is its own (on
    // Linux, /proc tells; elsewhere the port is trusted): another process may hold the port.
    const listening = options.ready
      ? sawReady
      : await accepts(port) && ownsListener(port, child.pid) !== false;
    if (listening) {
      return {
        url: `ws://127.0.0.1:${port}`,
        httpUrl: `http://127.0.0.1:${port}`,
        port,
        pid: child.pid,
        status,
        output: () => output,
        waitForOutput: (pattern, wait) => lines.wait(pattern, wait),
        kill,
        [Symbol.asyncDispose]: async () => {
          await kill();
        },
      };
    }
    if (Date.now() > deadline) {
      await kill();
      return `not ready within ${timeout} ms; output:\n${output}`;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  await status;
  return `the process exited (code ${exited.code}) before listening on ${port}; output:\n${output}`;
}

/** The pending {@linkcode SpawnedApp.waitForOutput} calls of one process, fed its output. */
class LineWaiters {
  readonly #output: () => string;
  readonly #partial = { out: "", err: "" };
  readonly #waiters = new Set<{ line(text: string): void; fail(why: string): void }>();
  #exit: string | undefined;

  constructor(output: () => string) {
    this.#output = output;
  }

  /** Text from one stream: complete lines go to every waiter. */
  text(text: string, stream: "out" | "err"): void {
    const parts = (this.#partial[stream] + text).split("\n");
    this.#partial[stream] = parts.pop()!;
    for (const line of parts) for (const w of [...this.#waiters]) w.line(line.replace(/\r$/, ""));
  }

  /** The process exited: pending waits reject. */
  exited(code: number): void {
    this.#exit = `the process exited (code ${code})`;
    for (const w of [...this.#waiters]) w.fail(this.#exit);
  }

  wait(pattern: RegExp, options: WaitForOutputOptions = {}): Promise<string[]> {
    const count = options.count ?? 1;
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (this.#exit) return Promise.reject(new Error(`waitForOutput(${pattern}): ${this.#exit}`));
    return new Promise((resolve, reject) => {
      const found: string[] = [];
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      const waiter = {
        line: (text: string) => {
          pattern.lastIndex = 0;
          if (!pattern.test(text)) return;
          found.push(text);
          if (found.length < count) return;
          done();
          resolve(found);
        },
        fail: (why: string) => {
          done();
          const tail = this.#output().slice(-2000);
          reject(
            new Error(
              `waitForOutput(${pattern}): ${why}, ${found.length} of ${count} lines; output:\n${tail}`,
            ),
          );
        },
      };
      const timer = setTimeout(() => waiter.fail(`not within ${timeoutMs} ms`), timeoutMs);
      this.#waiters.add(waiter);
    });
  }
}

async function read(stream: ReadableStream<Uint8Array>, onText: (t: string) => void) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
}

async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the socket listening on `port` belongs to process `pid` or one of its descendants,
 * from /proc (Linux); `undefined` when /proc cannot tell.
 */
export function ownsListener(port: number, pid: number): boolean | undefined {
  try {
    const inodes = new Set<string>();
    for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      let text: string;
      try {
        text = Deno.readTextFileSync(file);
      } catch {
        continue;
      }
      for (const line of text.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || f[3] !== "0A") continue; // 0A: LISTEN
        if (parseInt(f[1].split(":")[1], 16) === port) inodes.add(f[9]);
      }
    }
    if (inodes.size === 0) return undefined;
    const pids = [pid];
    for (let i = 0; i < pids.length && i < 64; i++) {
      for (const task of Deno.readDirSync(`/proc/${pids[i]}/task`)) {
        const children = Deno.readTextFileSync(`/proc/${pids[i]}/task/${task.name}/children`);
        for (const c of children.trim().split(/\s+/)) if (c) pids.push(Number(c));
      }
    }
    for (const p of pids) {
      for (const fd of Deno.readDirSync(`/proc/${p}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/${p}/fd/${fd.name}`));
        if (m && inodes.has(m[1])) return true;
      }
    }
    return false;
  } catch {
    return undefined;
  }
}
