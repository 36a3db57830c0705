/**
 * What every scenario gets from the runner, and the load-generator call they share.
 *
 * @module
 */
import { type Child, deno, type PrivateRedis, type Row } from "../lib.ts";

/** Runner context. */
export interface Ctx {
  /** CI smoke mode: short windows, smaller populations. */
  readonly quick: boolean;
  /** A private redis-server, when one could be started. */
  readonly redis: PrivateRedis | undefined;
  /** Progress output (stderr). */
  log(message: string): void;
}

/**
 * Timing of one measured window. `BENCH_ROUNDS` raises the number of alternating rounds (default
 * 3) where a row is noisy on a shared machine.
 */
export function windows(
  ctx: Ctx,
): { warmup: number; duration: number; rounds: number } {
  const rounds = Number(Deno.env.get("BENCH_ROUNDS")) || 3;
  return ctx.quick
    ? { warmup: 300, duration: 1000, rounds: 1 }
    : { warmup: 1000, duration: 3000, rounds };
}

/**
 * The median of the per-round ratios `s[i][key] / b[i][key]`: round `i` of both ran next to each
 * other, so drift on a shared machine cancels in each pair (best ÷ best can pair a quiet round of
 * one with a loaded round of the other).
 */
export function pairedMedian<T extends Record<string, number>>(
  s: T[],
  b: T[],
  key: keyof T,
): number {
  const ratios = s.map((x, i) => x[key] / b[i][key]).sort((x, y) => x - y);
  const mid = ratios.length >> 1;
  return ratios.length % 2 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2;
}

/** Runs bench/load.ts with `args` and returns its parsed RESULT. */
export async function load(
  mode: string,
  args: Record<string, string | number>,
  servers: Child[],
): Promise<Record<string, number>> {
  const flat = Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const pids = servers.map((s) => s.pid).join(",");
  const child = await deno("load.ts", [mode, ...flat, "--pids", pids], {
    ready: false,
  });
  const line = await child.next("RESULT", 120_000);
  await child.status;
  const result = JSON.parse(line.slice("RESULT ".length));
  if (result.unexpected) {
    throw new Error(`${result.unexpected} unexpected replies, e.g. ${result.sample}`);
  }
  return result;
}

/**
 * Measures every named server `rounds` times, the order reversed every other round (drift on a
 * shared machine then hits them alike); answers the results by name.
 */
export async function alternate(
  rounds: number,
  servers: ReadonlyArray<readonly [string, Child]>,
  measure: (name: string, server: Child) => Promise<Record<string, number>>,
): Promise<Record<string, Record<string, number>[]>> {
  const results: Record<string, Record<string, number>[]> = {};
  for (const [name] of servers) results[name] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [name, server] of r % 2 ? [...servers].reverse() : servers) {
      results[name].push(await measure(name, server));
    }
  }
  return results;
}

/**
 * Broadcasts in flight of the fan-out rows' second measurement. With 4, each receiver gets about
 * one frame per read, and the load generator's core (a read per frame) was the limit before raw
 * Bun's (0.6 of a core at 4 in flight); with 32 a read carries several frames and the servers
 * are the limit (raw Bun 1.1–1.8 M deliveries/s here, as issue 20 measured `publish`).
 */
export const DEEP_WINDOW = 32;

/**
 * The fan-out load against `server`: one sender on `/ws/sender`, `receivers` on `/ws/room`, the
 * next broadcast when every receiver has the previous one (`window` in flight, default 4).
 */
export function fanoutLoad(
  ctx: Ctx,
  server: Child,
  receivers: number,
  window = 4,
): Promise<Record<string, number>> {
  const { warmup, duration } = windows(ctx);
  const base = `ws://127.0.0.1:${server.port}`;
  return load("fanout", {
    "recv-urls": `${base}/ws/room`,
    "send-url": `${base}/ws/sender`,
    receivers,
    window,
    warmup,
    duration,
  }, [server]);
}

/** Best Switchboard ÷ best baseline on the server-CPU-normalized throughput. */
export function cpuRatio(s: Record<string, number>[], b: Record<string, number>[]): number {
  return best(s, "perServerCpuSecond").perServerCpuSecond /
    best(b, "perServerCpuSecond").perServerCpuSecond;
}

/** The best (highest `key`) of several results. */
export function best<T extends Record<string, number>>(
  results: T[],
  key: keyof T,
): T {
  return results.reduce((a, b) => (b[key] > a[key] ? b : a));
}

/**
 * The idle-memory rows of one runtime: each server a fresh process per round (`start("switchboard")`
 * or `start("raw")`, answering it and its WebSocket path), 1,000 (quick) or 5,000 idle sockets
 * each, the two alternating, the median RSS per connection of each (≤ 1.3× is issue 20's target);
 * then {@linkcode twiceAsManyRow}: twice as many sockets, the second half opened on top of the first.
 */
export async function idleRow(
  ctx: Ctx,
  label: { scenario: string; baselineName: string; log: string; note?: string },
  start: (which: "switchboard" | "raw") => Promise<[Child, string]>,
): Promise<Row[]> {
  const conns = ctx.quick ? 1000 : 5000;
  const rounds = ctx.quick ? 1 : 3;
  const measure = async (which: "switchboard" | "raw") => {
    const [server, path] = await start(which);
    try {
      return await load("idle", {
        url: `ws://127.0.0.1:${server.port}${path}`,
        "mem-url": `http://127.0.0.1:${server.port}/mem`,
        conns,
        more: conns,
      }, [server]);
    } finally {
      await server.stop();
    }
  };
  const sb: Record<string, number>[] = [];
  const raw: Record<string, number>[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2) raw.push(await measure("raw"));
    sb.push(await measure("switchboard"));
    if (!(r % 2)) raw.push(await measure("raw"));
  }
  const median = (xs: Record<string, number>[]) =>
    [...xs].sort((a, b) => a.rssPerConn - b.rssPerConn)[Math.floor(xs.length / 2)];
  const s = median(sb);
  const b = median(raw);
  const ratio = s.rssPerConn / b.rssPerConn;
  ctx.log(
    `  ${label.log} idle: Switchboard ${s.rssPerConn.toFixed(0)} B/conn, raw ${
      b.rssPerConn.toFixed(0)
    }`,
  );
  return [{
    scenario: `${label.scenario}, ${conns.toLocaleString("en-US")} sockets`,
    metric: "RSS bytes/connection",
    unit: "B/conn",
    switchboard: s.rssPerConn,
    baselineName: label.baselineName,
    baseline: b.rssPerConn,
    ratio,
    target: "≤ 1.3×",
    met: ratio <= 1.3,
    notes: `median of ${rounds} alternating runs each; JS heap per connection: Switchboard ${
      (s.heapPerConn / 1024).toFixed(1)
    } KiB, raw ${(b.heapPerConn / 1024).toFixed(1)} KiB${label.note ?? ""}`,
  }, twiceAsManyRow(label.scenario, label.baselineName, conns, sb, raw)];
}

/**
 * The row of `2 × conns` idle sockets: the first `conns`, then as many more (bench/load.ts `idle
 * --more`), RSS per connection over all of them, median of the runs of each; its notes give what
 * the second `conns` added alone — a connection's cost once the heap has grown for the first ones,
 * without what a burst from a cold start commits once (V8's young generation grown towards its
 * bound, a JavaScriptCore heap grown from a small start). Either server's heap may still be
 * growing during the second burst, so that figure is read with the first.
 */
export function twiceAsManyRow(
  scenario: string,
  baselineName: string,
  conns: number,
  sb: Record<string, number>[],
  raw: Record<string, number>[],
): Row {
  const overAll = (x: Record<string, number>) => (x.rssPerConn + x.marginalRssPerConn) / 2;
  const median = (xs: Record<string, number>[]) =>
    [...xs].sort((a, b) => overAll(a) - overAll(b))[Math.floor(xs.length / 2)];
  const s = median(sb);
  const b = median(raw);
  const ratio = overAll(s) / overAll(b);
  const n = conns.toLocaleString("en-US");
  const kib = (bytes: number) => (bytes / 1024).toFixed(1);
  return {
    scenario: `${scenario}, ${(2 * conns).toLocaleString("en-US")} sockets (${n}, then ${n} more)`,
    metric: "RSS bytes/connection",
    unit: "B/conn",
    switchboard: overAll(s),
    baselineName,
    baseline: overAll(b),
    ratio,
    target: "-",
    met: ratio <= 1.3,
    notes: `median of ${sb.length} and ${raw.length} runs; the second ${n} alone: Switchboard ${
      kib(s.marginalRssPerConn)
    } KiB, raw ${kib(b.marginalRssPerConn)} KiB per connection (${
      (s.marginalRssPerConn / b.marginalRssPerConn).toFixed(2)
    }×), JS heap ${kib(s.marginalHeapPerConn)} KiB and ${kib(b.marginalHeapPerConn)} KiB`,
  };
}
