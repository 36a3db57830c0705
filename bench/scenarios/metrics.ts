/**
 * Metrics cost (issue 23): the echo scenario against two Switchboard servers in the same run, one
 * with `/metrics` mounted (every frame counted, every handler timed) and one without; target
 * ≥ 0.97× the throughput without.
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
    const results: Record<"on" | "off", Record<string, number>[]> = { on: [], off: [] };
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
    }];
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}
