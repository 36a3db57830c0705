/**
 * History (docs/recovery.md): the fan-out with the room's history on against the same fan-out
 * without, in the same run: in memory (one process, targets ≥ 0.9×) and across two processes on
 * the Redis pub/sub layer (≥ 0.7×). Same load client as `fanout` and `cross`.
 *
 * @module
 */
import { type Child, deno, type Row } from "../lib.ts";
import { best, cpuRatio, type Ctx, load, windows } from "./common.ts";

/** Runs the history scenario (the Redis half needs the private Redis). */
export async function history(ctx: Ctx): Promise<Row[]> {
  const { warmup, duration, rounds } = windows(ctx);
  const rows: Row[] = [];
  for (const kind of ["memory", "redis"] as const) {
    if (kind === "redis" && !ctx.redis) continue;
    const processes = kind === "memory" ? 1 : 2;
    const receivers = ctx.quick ? 100 : kind === "memory" ? 500 : 2 * 250;
    const env = ctx.redis ? { REDIS_URL: ctx.redis.url } : undefined;
    const base = kind === "memory" ? "fanout" : "cross";
    const results: Record<string, Record<string, number>[]> = {
      plain: [],
      history: [],
    };
    const runOne = async (name: "plain" | "history") => {
      const servers: Child[] = [];
      try {
        const mode = name === "history" ? `${base}-history` : base;
        for (let i = 0; i < processes; i++) {
          servers.push(await deno("servers/switchboard.ts", [mode], { env }));
        }
        const res = await load("fanout", {
          "recv-urls": servers.map((s) => `ws://127.0.0.1:${s.port}/ws/room`)
            .join(","),
          "send-url": `ws://127.0.0.1:${servers[0].port}/ws/sender`,
          receivers,
          window: 4,
          warmup,
          duration,
        }, servers);
        ctx.log(
          `  history ${kind} ${name}: ${Math.round(res.deliveriesPerSec)} deliveries/s, ` +
            `broadcast p50 ${res.p50.toFixed(1)} ms`,
        );
        results[name].push(res);
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    };
    for (let r = 0; r < Math.min(rounds, 2); r++) {
      for (
        const name of r % 2 ? ["history", "plain"] as const : ["plain", "history"] as const
      ) {
        await runOne(name);
      }
    }
    const h = best(results.history, "deliveriesPerSec");
    const p = best(results.plain, "deliveriesPerSec");
    const ratio = h.deliveriesPerSec / p.deliveriesPerSec;
    const target = kind === "memory" ? 0.9 : 0.7;
    rows.push({
      scenario: kind === "memory"
        ? `group broadcast with history, 1 → ${receivers} (memory layer)`
        : `group broadcast with history, 2 processes × ${receivers / 2} (Redis pub/sub)`,
      metric: "deliveries/s",
      unit: "deliveries/s",
      switchboard: h.deliveriesPerSec,
      baselineName: "the same broadcast without history",
      baseline: p.deliveriesPerSec,
      ratio,
      cpuRatio: cpuRatio(results.history, results.plain),
      target: `≥ ${target}×`,
      met: ratio >= target,
      notes: `broadcast p50: with history ${h.p50.toFixed(1)} ms, without ${p.p50.toFixed(1)} ms`,
    });
  }
  return rows;
}
