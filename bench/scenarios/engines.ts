/**
 * Cross-process broadcast on each engine, same run, same shape as `cross.ts` (two Switchboard
 * server processes, receivers on both, the sender on the first): the Redis pub/sub layer on the
 * private redis-server beside the NATS layer on a private nats-server. The ratio is NATS ÷ Redis
 * (no target: it tells which engine costs what here).
 *
 * @module
 */
import { type Child, deno, type Row } from "../lib.ts";
import { skipped } from "./cross.ts";
import { best, type Ctx, load, windows } from "./common.ts";
import { type NatsServer, startNats } from "../../testing/nats_server.ts";
import { skipReason } from "../../testing/services.ts";

/** Runs the engines scenario; needs the private Redis and a nats-server binary. */
export async function engines(ctx: Ctx): Promise<Row[]> {
  const perServer = ctx.quick ? 100 : 500;
  const scenario = `cross-process broadcast by engine, 2 × ${perServer} receivers`;
  if (!ctx.redis) return [skipped(scenario, "no redis-server on this machine")];
  const noNats = skipReason("nats");
  if (noNats) return [skipped(scenario, noNats)];
  const { warmup, duration, rounds } = windows(ctx);
  let nats: NatsServer | undefined;
  const results: Record<string, Record<string, number>[]> = {
    nats: [],
    redis: [],
  };
  try {
    nats = await startNats();
    const envs = {
      nats: { NATS_URL: nats.url },
      redis: { REDIS_URL: ctx.redis.url },
    };
    const runOne = async (engine: "nats" | "redis") => {
      const servers: Child[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          servers.push(
            await deno("servers/switchboard.ts", ["cross"], {
              env: envs[engine],
            }),
          );
        }
        const res = await load("fanout", {
          proto: "sb",
          "recv-urls": servers.map((s) => `ws://127.0.0.1:${s.port}/ws/room`)
            .join(","),
          "send-url": `ws://127.0.0.1:${servers[0].port}/ws/sender`,
          receivers: perServer * 2,
          window: 4,
          warmup,
          duration,
        }, servers);
        ctx.log(
          `  engines ${engine}: ${Math.round(res.deliveriesPerSec)} deliveries/s, ` +
            `broadcast p50 ${res.p50.toFixed(1)} ms, servers' CPU ${res.serverCpu.toFixed(2)} s`,
        );
        results[engine].push(res);
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    };
    for (let r = 0; r < Math.min(rounds, 2); r++) {
      for (
        const engine of r % 2 ? ["redis", "nats"] as const : ["nats", "redis"] as const
      ) {
        await runOne(engine);
      }
    }
  } finally {
    await nats?.stop();
  }
  const n = best(results.nats, "deliveriesPerSec");
  const r = best(results.redis, "deliveriesPerSec");
  const perCpu = (x: Record<string, number>[]) => best(x, "perServerCpuSecond").perServerCpuSecond;
  return [{
    scenario,
    metric: "deliveries/s",
    unit: "deliveries/s",
    switchboard: n.deliveriesPerSec,
    baselineName: "Switchboard on standalone Redis (pub/sub layer)",
    baseline: r.deliveriesPerSec,
    ratio: n.deliveriesPerSec / r.deliveriesPerSec,
    cpuRatio: perCpu(results.nats) / perCpu(results.redis),
    target: "-",
    met: true,
    notes: `Switchboard on NATS (core subjects) vs on Redis; all-received p50: NATS ${
      n.p50.toFixed(1)
    } ms, Redis ${r.p50.toFixed(1)} ms`,
  }];
}
