/**
 * The idle-connections measurement of bench/scenarios/idle.ts for two library trees in one
 * session: raw Deno sockets, Switchboard from this tree and Switchboard from `--base <dir>` (a
 * checkout of the commit to compare with), each round in a rotated order, every server a fresh
 * process, the same load client (bench/load.ts). Prints each run, then per server the median and
 * range of RSS and JS heap per connection and of the ratio to the same round's raw server.
 *
 * `deno run -A bench/micro/idle_ab.ts --base /tmp/base [--rounds 5] [--conns 5000] [--capped]
 * [--node]`: `--node` runs the Node servers instead (bench/servers/raw_ws.ts and
 * switchboard_node.ts, compiled for Node by scripts/compile_node.ts in each tree).
 *
 * @module
 */
import { type Child, deno, ROOT, spawn } from "../lib.ts";

const arg = (name: string, fallback: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? fallback : Deno.args[i + 1];
};
const base = arg("base", "");
const rounds = Number(arg("rounds", "5"));
const conns = Number(arg("conns", "5000"));
const capped = Deno.args.includes("--capped");
const flags = capped ? "--expose-gc,--max-semi-space-size=1" : "--expose-gc";
const onNode = Deno.args.includes("--node");

interface Server {
  name: string;
  start(): Promise<Child>;
  path: string;
}

/** Compiles a tree's two Node servers (as bench/scenarios/node.ts does); answers their paths. */
async function compileNode(tree: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      `${tree}/deno.test.json`,
      "--allow-all",
      "--quiet",
      `${tree}/scripts/compile_node.ts`,
      ".bench-node",
      "bench/servers/switchboard_node.ts",
      "bench/servers/raw_ws.ts",
    ],
    cwd: tree,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`compile_node.ts failed in ${tree}`);
  return new TextDecoder().decode(out.stdout).trim().split("\n");
}
const node = (file: string) => () =>
  spawn("node", [...flags.split(","), file, "idle"], {
    label: file,
  });

const servers: Server[] = [];
if (onNode) {
  const [sb, raw] = await compileNode(ROOT.replace(/\/$/, ""));
  servers.push({ name: "raw", start: node(raw), path: "/" });
  servers.push({ name: "new", start: node(sb), path: "/ws/idle" });
  if (base) {
    servers.push({ name: "base", start: node((await compileNode(base))[0]), path: "/ws/idle" });
  }
} else {
  servers.push(
    { name: "raw", start: () => deno("servers/raw_deno.ts", ["idle"], env()), path: "/" },
    { name: "new", start: () => deno("servers/switchboard.ts", ["idle"], env()), path: "/ws/idle" },
  );
}
if (base && !onNode) {
  servers.push({
    name: "base",
    start: () =>
      spawn(Deno.execPath(), [
        "run",
        "--allow-all",
        "--quiet",
        `--v8-flags=${flags}`,
        `${base}/bench/servers/switchboard.ts`,
        "idle",
      ], { label: "base" }),
    path: "/ws/idle",
  });
}
function env() {
  return { env: { V8_FLAGS: flags } };
}

type Result = {
  rssPerConn: number;
  heapPerConn: number;
  heapTotalPerConn: number;
  newSpacePerConn: number;
  oldSpacePerConn: number;
  connections: number;
};
const results: Record<string, Result[]> = {};
const ratios: Record<string, number[]> = {};
const heapRatios: Record<string, number[]> = {};
for (const s of servers) results[s.name] = [];
console.log(
  `idle A/B${onNode ? " on Node" : ""}: ${conns} connections, ${rounds} rounds, V8 flags ${flags}`,
);
for (let r = 0; r < rounds; r++) {
  const order = servers.map((_, i) => servers[(i + r) % servers.length]);
  const round: Record<string, Result> = {};
  for (const s of order) {
    const server = await s.start();
    try {
      const child = await deno("load.ts", [
        "idle",
        "--url",
        `ws://127.0.0.1:${server.port}${s.path}`,
        "--mem-url",
        `http://127.0.0.1:${server.port}/mem`,
        "--conns",
        String(conns),
      ], { ready: false });
      const line = await child.next("RESULT", 120_000);
      await child.status;
      const res = JSON.parse(line.slice("RESULT ".length)) as Result;
      if (res.connections < conns) throw new Error(`${s.name}: only ${res.connections} open`);
      round[s.name] = res;
      results[s.name].push(res);
      console.log(
        `round ${r + 1} ${s.name.padEnd(4)}: RSS ${(res.rssPerConn / 1024).toFixed(2)} KiB/conn, ` +
          `heap ${(res.heapPerConn / 1024).toFixed(2)} KiB/conn, heapTotal ${
            (res.heapTotalPerConn / 1024).toFixed(2)
          } KiB/conn (new space ${(res.newSpacePerConn / 1024).toFixed(2)}, old space ${
            (res.oldSpacePerConn / 1024).toFixed(2)
          })`,
      );
    } finally {
      await server.stop();
    }
  }
  for (const s of servers) {
    if (s.name === "raw") continue;
    (ratios[s.name] ??= []).push(round[s.name].rssPerConn / round.raw.rssPerConn);
    (heapRatios[s.name] ??= []).push(round[s.name].heapPerConn / round.raw.heapPerConn);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const range = (xs: number[], f: (x: number) => string) =>
  `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;
const kib = (x: number) => (x / 1024).toFixed(2);
const times = (x: number) => x.toFixed(2) + "×";
console.log(`\n${ROOT} (new) vs ${base || "-"} (base); median [range] over ${rounds} rounds`);
for (const s of servers) {
  const rss = results[s.name].map((x) => x.rssPerConn);
  const heap = results[s.name].map((x) => x.heapPerConn);
  const total = results[s.name].map((x) => x.heapTotalPerConn);
  let line = `${s.name.padEnd(4)}: RSS ${kib(median(rss))} KiB/conn [${range(rss, kib)}], heap ${
    kib(median(heap))
  } KiB/conn [${range(heap, kib)}], heapTotal ${kib(median(total))} KiB/conn`;
  if (ratios[s.name]) {
    line += `, RSS ratio to raw ${times(median(ratios[s.name]))} [${
      range(ratios[s.name], times)
    }], heap ratio ${times(median(heapRatios[s.name]))}`;
  }
  console.log(line);
}
