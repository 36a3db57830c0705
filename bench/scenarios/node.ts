/**
 * The Node rows: echo (50 connections, 4 in flight) and fan-out (1 → 1,000, 4 broadcasts in
 * flight) with Switchboard on Node (adapters/node: `node:http` + `ws`) against a plain `ws` server
 * doing the same on Node (bench/servers/raw_ws.ts: send back; a loop over the receivers), the same
 * load generator, the same run; and idle memory (5,000 sockets kept, RSS per connection, the
 * measurement of bench/scenarios/idle.ts) against raw `ws` sockets kept in a Set. Both servers are compiled for Node by scripts/compile_node.ts into
 * `.bench-node/` first (Node 20 runs no TypeScript).
 *
 * @module
 */
import { type Child, node, ROOT, type Row } from "../lib.ts";
import {
  alternate,
  best,
  cpuRatio,
  type Ctx,
  DEEP_WINDOW,
  fanoutLoad,
  idleRow,
  load,
  pairedMedian,
  windows,
} from "./common.ts";

const OUT = ".bench-node";

/** Compiles the two Node servers; answers their `.js` files relative to bench/. */
export async function compileNodeServers(): Promise<{ switchboard: string; raw: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      `${ROOT}deno.test.json`,
      "--allow-all",
      "--quiet",
      `${ROOT}scripts/compile_node.ts`,
      OUT,
      "bench/servers/switchboard_node.ts",
      "bench/servers/raw_ws.ts",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`compile_node.ts failed: ${text.decode(out.stderr)}`);
  const [switchboard, raw] = text.decode(out.stdout).trim().split("\n")
    .map((path) => `../${path.slice(ROOT.length)}`);
  return { switchboard, raw };
}

/** Runs the Node scenarios. */
export async function nodeRows(ctx: Ctx): Promise<Row[]> {
  const { warmup, duration, rounds } = windows(ctx);
  const receivers = ctx.quick ? 200 : 1000;
  const scripts = await compileNodeServers();
  const rows: Row[] = [];
  const servers: Child[] = [];
  try {
    // `fanout-deep`: the fan-out servers again, DEEP_WINDOW broadcasts in flight.
    for (const run of ["echo", "fanout", "fanout-deep"] as const) {
      const mode = run === "echo" ? "echo" : "fanout";
      const inFlight = run === "fanout-deep" ? DEEP_WINDOW : 4;
      const sb = await node(scripts.switchboard, [mode]);
      servers.push(sb);
      const raw = await node(scripts.raw, [mode]);
      servers.push(raw);
      const order: Array<readonly [string, Child]> = [["switchboard", sb], ["raw", raw]];
      if (mode === "echo") {
        const text = await node(scripts.raw, ["echo-text"]);
        servers.push(text);
        order.push(["rawText", text]);
      }
      const results = await alternate(rounds, order, async (name, server) => {
        const base = `ws://127.0.0.1:${server.port}`;
        const res = mode === "echo"
          ? await load("echo", {
            url: name === "switchboard" ? `${base}/ws/echo` : `${base}/`,
            proto: "sb",
            expect: name === "switchboard" ? '{"action":"said"' : '{"action":"say"',
            conns: 50,
            window: 4,
            warmup,
            duration,
          }, [server])
          : await fanoutLoad(ctx, server, receivers, inFlight);
        const rate = mode === "echo" ? res.msgsPerSec : res.deliveriesPerSec;
        ctx.log(
          `  node ${run} ${name}: ${Math.round(rate)}/s, p50 ${res.p50.toFixed(2)} ms, ` +
            `server CPU ${res.serverCpu.toFixed(2)} s`,
        );
        return res;
      });
      const key = mode === "echo" ? "msgsPerSec" : "deliveriesPerSec";
      const s = best(results.switchboard, key);
      const b = best(results.raw, key);
      const ratio = s[key] / b[key];
      const target = mode === "echo" ? 0.85 : undefined;
      rows.push({
        scenario: mode === "echo"
          ? "Node: echo, 50 connections"
          : `Node: fan-out, 1 → ${receivers} (memory layer), ${inFlight} in flight`,
        metric: mode === "echo" ? "msg/s" : "deliveries/s",
        unit: mode === "echo" ? "msg/s" : "deliveries/s",
        switchboard: s[key],
        baselineName: mode === "echo"
          ? "raw `ws` echo (Node)"
          : "raw loop over `ws` sockets (Node)",
        baseline: b[key],
        ratio,
        cpuRatio: cpuRatio(results.switchboard, results.raw),
        target: target ? `≥ ${target}×` : "-",
        met: target ? ratio >= target : false,
        notes: `p50: Switchboard ${s.p50.toFixed(2)} ms, raw ${b.p50.toFixed(2)} ms; median of ` +
          `the ${rounds} paired rounds' ratios ${
            pairedMedian(results.switchboard, results.raw, key).toFixed(2)
          }×`,
      });
      if (mode === "echo") {
        const t = best(results.rawText, key);
        rows.push({
          scenario: "Node: echo, 50 connections",
          metric: "msg/s",
          unit: "msg/s",
          switchboard: s[key],
          baselineName: "raw `ws` echo, text frames as strings (as raw Deno)",
          baseline: t[key],
          ratio: s[key] / t[key],
          cpuRatio: cpuRatio(results.switchboard, results.rawText),
          target: "-",
          met: false,
          notes: `the raw server decodes each text frame to a string and sends the string back, ` +
            `as raw Deno's echo does; the row above passes ws's Buffer through undecoded`,
        });
      }
      await Promise.all(servers.map((c) => c.stop()));
      servers.length = 0;
    }
    const flags = { env: { NODE_FLAGS: "--expose-gc" } };
    rows.push(
      ...await idleRow(
        ctx,
        {
          scenario: "Node: idle connections",
          baselineName: "raw `ws` sockets (Node)",
          log: "node",
        },
        async (which) =>
          which === "raw"
            ? [await node(scripts.raw, ["idle"], flags), "/"]
            : [await node(scripts.switchboard, ["idle"], flags), "/ws/idle"],
      ),
    );
    return rows;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}
