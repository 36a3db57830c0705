/**
 * `deno task bench [--quick] [--only echo,fanout,cross,engines,jobs,idle,presence,metrics,bun,node,history,interested,codec]`
 *
 * Runs every scenario against its baseline in this one run and prints one row each: Switchboard,
 * the baseline and the ratio, with its target (issue #8's, or issue #20's where it set one).
 * Servers and the load generator are separate processes; a private redis-server on a free port
 * serves the Redis scenarios. A full run writes bench/results.md; `--quick` (CI smoke, < 30 s)
 * writes bench/out/results-quick.md and never fails on slowness — only on errors.
 *
 * @module
 */
import {
  ensureNodeDeps,
  fmt,
  killAll,
  type PrivateRedis,
  type Row,
  startRedis,
  writeMarkdown,
} from "./lib.ts";
import type { Ctx } from "./scenarios/common.ts";
import { echo } from "./scenarios/echo.ts";
import { fanout } from "./scenarios/fanout.ts";
import { cross, skipped } from "./scenarios/cross.ts";
import { jobs } from "./scenarios/jobs.ts";
import { idle } from "./scenarios/idle.ts";
import { presence } from "./scenarios/presence.ts";
import { engines } from "./scenarios/engines.ts";
import { metrics } from "./scenarios/metrics.ts";
import { bunRows } from "./scenarios/bun.ts";
import { history } from "./scenarios/history.ts";
import { interested } from "./scenarios/interested.ts";
import { nodeRows } from "./scenarios/node.ts";
import { codec } from "./scenarios/codec.ts";

const SCENARIOS: Record<string, (ctx: Ctx) => Promise<Row[]>> = {
  echo,
  fanout,
  cross,
  engines,
  jobs,
  idle,
  presence,
  metrics,
  bun: bunRows,
  node: nodeRows,
  history,
  interested,
  codec,
};

const quick = Deno.args.includes("--quick");
const onlyArg = Deno.args.find((a) => a.startsWith("--only"));
const only = onlyArg
  ? (onlyArg.includes("=") ? onlyArg.split("=")[1] : Deno.args[Deno.args.indexOf(onlyArg) + 1])
    .split(",")
  : Object.keys(SCENARIOS);
const log = (m: string) => console.error(m);

async function version(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim().split("\n")[0];
  } catch {
    return "n/a";
  }
}

async function machine(): Promise<Record<string, string>> {
  let cpu = "unknown CPU";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = info.match(/model name\s*:\s*(.+)/)?.[1] ?? cpu;
  } catch { /* not Linux */ }
  const pkg = async (name: string) => {
    try {
      const p = JSON.parse(
        await Deno.readTextFile(
          new URL(`./node_modules/${name}/package.json`, import.meta.url),
        ),
      );
      return p.version as string;
    } catch {
      return "n/a";
    }
  };
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cpu: `${cpu} × ${navigator.hardwareConcurrency}`,
    memory: `${(Deno.systemMemoryInfo().total / 2 ** 30).toFixed(0)} GiB`,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    node: await version("node", ["--version"]),
    redis: (await version("redis-server", ["--version"])).match(/v=(\S+)/)?.[1] ??
      "n/a",
    "socket.io": await pkg("socket.io"),
    "@socket.io/redis-adapter": await pkg("@socket.io/redis-adapter"),
    bullmq: await pkg("bullmq"),
  };
}

function table(rows: Row[]): string {
  const head = "| scenario | metric | Switchboard | baseline | baseline value | ratio | " +
    "ratio per server CPU-s | target | met |";
  const sep = "|---|---|---:|---|---:|---:|---:|---|---|";
  const x = (n: number | undefined) =>
    n !== undefined && Number.isFinite(n) ? n.toFixed(2) + "×" : "-";
  const lines = rows.map((r) => {
    const digits = r.unit === "ms" ? 2 : 0;
    return `| ${r.scenario} | ${r.metric} | ${fmt(r.switchboard, digits)} | ${r.baselineName} | ${
      fmt(r.baseline, digits)
    } | ${x(r.ratio)} | ${x(r.cpuRatio)} | ${r.target} | ${
      r.target === "-" ? "-" : r.met ? "yes" : "**no**"
    } |`;
  });
  return [head, sep, ...lines].join("\n");
}

function notes(rows: Row[]): string {
  return rows.filter((r) => r.notes).map((r) => `- ${r.scenario} vs ${r.baselineName}: ${r.notes}`)
    .join("\n");
}

async function main(): Promise<void> {
  const started = performance.now();
  await ensureNodeDeps();
  let redis: PrivateRedis | undefined;
  const needsRedis = ["cross", "engines", "jobs", "presence", "history", "interested"];
  if (only.some((s) => needsRedis.includes(s))) {
    try {
      redis = await startRedis();
      log(`== private redis-server at ${redis.url}`);
    } catch (error) {
      log(
        `== no private Redis (${(error as Error).message}); Redis scenarios are skipped`,
      );
    }
  }
  const ctx: Ctx = { quick, redis, log };
  const rows: Row[] = [];
  try {
    for (const name of only) {
      const scenario = SCENARIOS[name];
      if (!scenario) {
        throw new Error(
          `unknown scenario '${name}' (have ${Object.keys(SCENARIOS)})`,
        );
      }
      log(`== ${name}${quick ? " (quick)" : ""}`);
      const t = performance.now();
      try {
        const got = await scenario(ctx);
        rows.push(...got);
        for (const r of got) {
          log(
            `   ${r.scenario} vs ${r.baselineName}: ${fmt(r.switchboard)} vs ${
              fmt(r.baseline)
            } ${r.unit} ` +
              `→ ${Number.isFinite(r.ratio) ? r.ratio.toFixed(2) : "n/a"}× (target ${r.target})`,
          );
        }
      } catch (error) {
        if (quick) throw error;
        log(`   ${name} failed: ${(error as Error).stack}`);
        rows.push(
          skipped(name, `failed: ${(error as Error).message.split("\n")[0]}`),
        );
      }
      log(`   (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await redis?.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const m = await machine();
  const md = [
    `# Benchmark results${quick ? " (quick smoke run: short windows, small populations)" : ""}`,
    "",
    "Generated by `deno task bench" + (quick ? " --quick" : "") +
    "`. Ratios are measured in one run on one machine; absolute numbers vary between machines, " +
    "and servers, load generator and Redis share the same cores (and, here, a machine other work " +
    "was running on). Throughput rows are the best of " +
    (Number(Deno.env.get("BENCH_ROUNDS")) || 3) +
    " rounds (two for cross-process; `BENCH_ROUNDS` sets it) run in alternating order, the Node " +
    "rows also give the median of the paired rounds' ratios; the memory row is the median of three. The CPU-normalized ratio " +
    "compares throughput per CPU-second used by the server processes, which other load on the " +
    "machine disturbs less. Ratio = Switchboard ÷ baseline: higher is better for " +
    "throughput, lower for latency and memory. The load generator is a separate Deno process " +
    "speaking each server's own protocol (bench/load.ts).",
    "",
    table(rows),
    "",
    "Notes:",
    "",
    notes(rows),
    "",
    "Machine and versions:",
    "",
    ...Object.entries(m).map(([k, v]) => `- ${k}: ${v}`),
    `- run time: ${seconds.toFixed(0)} s`,
    "",
  ].join("\n");
  console.log("\n" + table(rows) + "\n");
  const file = quick
    ? new URL("./out/results-quick.md", import.meta.url)
    : new URL("./results.md", import.meta.url);
  if (quick) {
    await Deno.mkdir(new URL("./out/", import.meta.url), { recursive: true });
  }
  if (!only.length || only.length === Object.keys(SCENARIOS).length || quick) {
    await writeMarkdown(file.pathname, md);
    log(`== wrote ${file.pathname} (${seconds.toFixed(0)} s)`);
  } else {
    await Deno.mkdir(new URL("./out/", import.meta.url), { recursive: true });
    await writeMarkdown(new URL("./out/results-partial.md", import.meta.url).pathname, md);
    log(
      `== partial run: wrote bench/out/results-partial.md (${seconds.toFixed(0)} s)`,
    );
  }
}

try {
  await main();
} finally {
  killAll();
}
