/**
 * Shared helpers of the benchmark runner: child processes that print `READY <port>`, a private
 * redis-server, statistics and table rows.
 *
 * @module
 */

/** Directory of this file (bench/). */
export const BENCH_DIR: string = new URL(".", import.meta.url).pathname;
/** Repository root. */
export const ROOT: string = new URL("..", import.meta.url).pathname;

/** A child process started by the runner. */
export interface Child {
  /** Process id. */
  readonly pid: number;
  /** The port it announced with `READY <port>`. */
  readonly port: number;
  /** Lines printed after READY (JSON results, diagnostics). */
  readonly lines: string[];
  /** Resolves with the next stdout line that starts with `prefix`. */
  next(prefix: string, timeoutMs?: number): Promise<string>;
  /** Stops the process (SIGTERM, then SIGKILL) and waits for it. */
  stop(): Promise<void>;
  /** Resolves when it exits on its own. */
  readonly status: Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode spawn}. */
export interface SpawnOptions {
  env?: Record<string, string>;
  /** Wait for a `READY <port>` line (default true). */
  ready?: boolean;
  /** How long to wait for READY. Default 30 s. */
  readyTimeoutMs?: number;
  /** Prefix of stderr lines echoed (for debugging). */
  label?: string;
}

const children = new Set<Deno.ChildProcess>();

/** Kills every child still running (on exit or failure). */
export function killAll(): void {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch { /* already gone */ }
  }
  children.clear();
}

/** Starts `cmd args…` and (by default) waits for its `READY <port>` line. */
export async function spawn(
  cmd: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<Child> {
  const proc = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.add(proc);
  const lines: string[] = [];
  const waiters: { prefix: string; resolve(line: string): void }[] = [];
  let ended = false;
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    onLine: (l: string) => void,
  ) => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) !== -1) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) onLine(buf);
  };
  const stderrTail: string[] = [];
  const outDone = pump(proc.stdout, (line) => {
    lines.push(line);
    const w = waiters.findIndex((x) => line.startsWith(x.prefix));
    if (w !== -1) waiters.splice(w, 1)[0].resolve(line);
  });
  const errDone = pump(proc.stderr, (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 40) stderrTail.shift();
    if (Deno.env.get("BENCH_DEBUG")) {
      console.error(`[${options.label ?? cmd}] ${line}`);
    }
  });
  const status = proc.status.then(async (s) => {
    children.delete(proc);
    await Promise.allSettled([outDone, errDone]);
    ended = true;
    for (const w of waiters.splice(0)) w.resolve("");
    return s;
  });
  const next = (prefix: string, timeoutMs = 60_000): Promise<string> => {
    const seen = lines.find((l) => l.startsWith(prefix));
    if (seen) {
      lines.splice(lines.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    if (ended) return Promise.reject(exitError());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i !== -1) waiters.splice(i, 1);
        reject(
          new Error(
            `${options.label ?? cmd}: no '${prefix}' line within ${timeoutMs} ms\n${
              stderrTail.join("\n")
            }`,
          ),
        );
      }, timeoutMs);
      const w = {
        prefix,
        resolve: (line: string) => {
          clearTimeout(timer);
          if (line === "") reject(exitError());
          else {
            const i = lines.indexOf(line);
            if (i !== -1) lines.splice(i, 1);
            resolve(line);
          }
        },
      };
      waiters.push(w);
    });
  };
  const exitError = () =>
    new Error(
      `${options.label ?? cmd} exited early:\n${stderrTail.join("\n")}`,
    );
  let port = 0;
  if (options.ready ?? true) {
    const line = await next("READY", options.readyTimeoutMs ?? 30_000);
    port = Number(line.split(/\s+/)[1]);
  }
  const stop = async () => {
    if (!ended) {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
      const t = setTimeout(() => {
        try {
          proc.kill("SIGKILL");
        } catch { /* gone */ }
      }, 3000);
      await status;
      clearTimeout(t);
    }
  };
  return { pid: proc.pid, port, lines, next, stop, status };
}

/** Runs a Deno script of bench/ as a child. */
export function deno(
  script: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<Child> {
  return spawn(Deno.execPath(), [
    "run",
    "--allow-all",
    "--quiet",
    ...(options.env?.V8_FLAGS ? [`--v8-flags=${options.env.V8_FLAGS}`] : []),
    `${BENCH_DIR}${script}`,
    ...args,
  ], { label: script, ...options });
}

/** Runs a Node script of bench/ as a child. */
export function node(
  script: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<Child> {
  return spawn("node", [
    ...(options.env?.NODE_FLAGS?.split(" ") ?? []),
    `${BENCH_DIR}${script}`,
    ...args,
  ], {
    label: script,
    ...options,
  });
}

/** A free loopback TCP port. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * A private redis-server on a free port (so benchmarks and restarts disturb nobody); `persist`
 * turns on the append-only file, so a restart keeps queued jobs.
 */
export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** Stops it (SHUTDOWN NOSAVE via SIGTERM). */
  stop(): Promise<void>;
  /**
   * Stops and starts it again on the same port (SIGTERM with `persist`, SIGKILL without or with
   * `crash`); without persistence the data is lost.
   */
  restart(downMs?: number): Promise<void>;
}

/** Starts a private redis-server; throws when `redis-server` is not installed. */
export async function startRedis(options: {
  persist?: boolean;
  /** With `persist`: the append-only file's fsync policy (default `everysec`, Redis' own). */
  appendfsync?: "always" | "everysec";
  /** Restart as a crash (SIGKILL) even with `persist` (default: SIGTERM with, SIGKILL without). */
  crash?: boolean;
} = {}): Promise<PrivateRedis> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "sb-bench-redis-" });
  let proc: Deno.ChildProcess | undefined;
  const start = async () => {
    proc = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        options.persist ? "yes" : "no",
        "--appendfsync",
        options.appendfsync ?? "everysec",
        "--dir",
        dir,
      ],
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).spawn();
    children.add(proc);
    for (let i = 0; i < 100; i++) {
      try {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        await c.write(new TextEncoder().encode("PING\r\n"));
        const buf = new Uint8Array(16);
        const n = await c.read(buf);
        c.close();
        if (
          n && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG")
        ) return;
      } catch { /* not yet */ }
      await sleep(50);
    }
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const stopProc = async () => {
    if (!proc) return;
    const p = proc;
    proc = undefined;
    try {
      // With persistence, a graceful stop (SIGTERM: Redis flushes its append-only file) is a
      // restart as operators do it; without, nothing survives either way.
      p.kill(options.persist && !options.crash ? "SIGTERM" : "SIGKILL");
    } catch { /* gone */ }
    await p.status;
    children.delete(p);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await stopProc();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    restart: async (downMs = 1000) => {
      await stopProc();
      await sleep(downMs);
      await start();
    },
  };
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Percentile of a sorted array. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(
    sorted.length - 1,
    Math.max(0, Math.ceil((p / 100) * sorted.length) - 1),
  );
  return sorted[i];
}

/** One printed/recorded result row. */
export interface Row {
  scenario: string;
  metric: string;
  switchboard: number;
  baselineName: string;
  baseline: number;
  /** switchboard / baseline. */
  ratio: number;
  /**
   * The same ratio per server CPU-second (deliveries or messages per CPU-second the server
   * processes used): less sensitive to other load on a shared machine.
   */
  cpuRatio?: number;
  /** The target, e.g. "≥ 0.7×". */
  target: string;
  met: boolean;
  unit: string;
  notes?: string;
}

/** Formats a number for a table. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return "n/a";
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  return n.toFixed(digits);
}

/** Makes sure bench/node_modules has the baselines' dependencies. */
export async function ensureNodeDeps(): Promise<void> {
  try {
    await Deno.stat(`${BENCH_DIR}node_modules/socket.io/package.json`);
    await Deno.stat(`${BENCH_DIR}node_modules/bullmq/package.json`);
    return;
  } catch { /* install */ }
  console.error(
    "== npm install --prefix bench (Socket.IO, redis adapter, BullMQ for the baselines)",
  );
  const out = await new Deno.Command("npm", {
    args: [
      "install",
      "--prefix",
      BENCH_DIR,
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("npm install --prefix bench failed");
}

/** Writes a Markdown report and formats it with the repository's `deno fmt` settings. */
export async function writeMarkdown(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text);
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", "--config", `${ROOT}deno.json`, path],
    stdout: "null",
    stderr: "null",
  }).output();
}
