/**
 * Metrics cost (issue 23): the echo scenario against two Switchboard servers in the same run, one
 * with `/metrics` mounted (every frame counted, every handler timed) and one without; target
 * ≥ 0.97× the throughput without. A second row is the library's own cost without sockets
 * (bench/metrics_cost.ts: frames per CPU-second, the two apps alternating in one process).
 *
 * @module
 */
import { type Child, deno, type Row } from "../lib.ts";
import { best, cpuRatio, type Ctx, load, windows } from "./common.ts";

/** Runs the metrics-on vs metrics-off echo scenario. */
export async function metrics(ctx: Ctx): Promise<Row[]> {
  const { warmup, duration, rounds } = windows(ctx);
  const servers: Child[] = [];
  try {
    const on = await deno("servers/switchboard.ts", ["echo", "--metrics"]);
    servers.push(on);
    const off = await deno("servers/switchboard.ts", ["echo"]);
    servers.push(off);
    const targets = { on, off };
    const results: Record<"on" | "off", Record<string, number>[]> = {
      on: [],
      off: [],
    };
    // Alternate the order between rounds so drift on a shared machine hits both alike.
    const order = ["on", "off"] as const;
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 ? [...order].reverse() : order) {
        const server = targets[name];
        const res = await load("echo", {
          url: `ws://127.0.0.1:${server.port}/ws/echo`,
          proto: "sb",
          expect: '{"action":"said"',
          conns: 50,
          window: 4,
          warmup,
          duration,
        }, [server]);
        ctx.log(
          `  echo metrics ${name}: ${Math.round(res.msgsPerSec)} msg/s, p50 ${
            res.p50.toFixed(2)
          } ms, server CPU ${res.serverCpu.toFixed(2)} s`,
        );
        results[name].push(res);
      }
    }
    const s = best(results.on, "msgsPerSec");
    const b = best(results.off, "msgsPerSec");
    const ratio = s.msgsPerSec / b.msgsPerSec;
    const lib = await deno("metrics_cost.ts", [ctx.quick ? "4" : "20"], {
      ready: false,
    });
    const line = await lib.next("RESULT", 120_000);
    await lib.status;
    const cost = JSON.parse(line.slice("RESULT ".length)) as Record<
      string,
      number
    >;
    ctx.log(`  echo in-process: ${JSON.stringify(cost)}`);
    return [{
      scenario: "echo, 50 connections, /metrics mounted",
      metric: "msg/s",
      unit: "msg/s",
      switchboard: s.msgsPerSec,
      baselineName: "the same server without metrics",
      baseline: b.msgsPerSec,
      ratio,
      cpuRatio: cpuRatio(results.on, results.off),
      target: "≥ 0.97×",
      met: ratio >= 0.97,
      notes: `p50 ${s.p50.toFixed(2)} ms with metrics, ${b.p50.toFixed(2)} ms without; ${
        Math.round(s.perServerCpuSecond)
      } vs ${Math.round(b.perServerCpuSecond)} msg per server CPU-second`,
    }, {
      scenario: "echo in-process (no sockets), 50 connections, /metrics mounted",
      metric: "frames per CPU-second",
      unit: "frames/CPU-s",
      switchboard: cost.medianOn,
      baselineName: "the same app without metrics",
      baseline: cost.medianOff,
      ratio: cost.medianRatio,
      cpuRatio: cost.medianRatio,
      target: "≥ 0.97× (socket row); the library's share alone",
      met: cost.medianRatio >= 0.97,
      notes: `median of the windows (best windows: ${cost.ratio.toFixed(3)}×); the library ` +
        `path only (decode, ` +
        `validate, handler, serialize), so the metrics' share here is its upper bound`,
    }];
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}
