/**
 * Job round trip: a client message → a job on Redis (RedisJobQueue) → a Worker in the server
 * process → the result pushed back to the same socket with `sendEvent`. Baseline: BullMQ on Node,
 * Queue.add → Worker → QueueEvents `completed`, worker in the same process, on the same Redis.
 * Latency is measured one job at a time; throughput with 50 jobs in flight (worker concurrency 50).
 *
 * @module
 */
import { deno, node, type Row } from "../lib.ts";
import { type Ctx, load, windows } from "./common.ts";
import { skipped } from "./cross.ts";

/** Runs the jobs scenario; needs the private Redis. */
export async function jobs(ctx: Ctx): Promise<Row[]> {
  const scenario = "job round trip (Redis)";
  if (!ctx.redis) return [skipped(scenario, "no redis-server on this machine")];
  const { warmup, duration } = windows(ctx);
  const env = { REDIS_URL: ctx.redis.url };

  const bull = await node("servers/bullmq.mjs", [
    "--warmup",
    String(warmup),
    "--duration",
    String(duration),
    "--inflight",
    "50",
    "--latency-jobs",
    ctx.quick ? "100" : "1000",
  ], { env, ready: false });
  const line = await bull.next("RESULT", 120_000);
  await bull.status;
  const b = JSON.parse(line.slice(7));
  ctx.log(
    `  jobs BullMQ: p50 ${b.p50.toFixed(2)} ms, p99 ${b.p99.toFixed(2)} ms, ${
      Math.round(b.jobsPerSec)
    } jobs/s`,
  );

  const server = await deno("servers/switchboard.ts", ["jobs"], { env });
  let lat: Record<string, number>;
  let thr: Record<string, number>;
  try {
    const url = `ws://127.0.0.1:${server.port}/ws/jobs`;
    lat = await load("echo", {
      url,
      action: "work",
      expect: '{"action":"done"',
      conns: 1,
      window: 1,
      warmup,
      duration: Math.max(duration / 2, 1000),
    }, [server]);
    thr = await load("echo", {
      url,
      action: "work",
      expect: '{"action":"done"',
      conns: 50,
      window: 1,
      warmup,
      duration,
    }, [
      server,
    ]);
  } finally {
    await server.stop();
  }
  ctx.log(
    `  jobs Switchboard: p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms, ${
      Math.round(thr.msgsPerSec)
    } jobs/s`,
  );
  const ratio = thr.msgsPerSec / b.jobsPerSec;
  return [
    {
      scenario,
      metric: "p50 latency, one at a time",
      unit: "ms",
      switchboard: lat.p50,
      baselineName: "BullMQ add → process → completed",
      baseline: b.p50,
      ratio: lat.p50 / b.p50,
      target: "p50 ≤ 5 ms",
      met: lat.p50 <= 5,
      notes: `p99: Switchboard ${lat.p99.toFixed(2)} ms, BullMQ ${
        b.p99.toFixed(2)
      } ms; Switchboard's time includes both WebSocket hops, BullMQ's has none`,
    },
    {
      scenario,
      metric: "jobs/s, 50 in flight",
      unit: "jobs/s",
      switchboard: thr.msgsPerSec,
      baselineName: "BullMQ add → process → completed",
      baseline: b.jobsPerSec,
      ratio,
      target: "≥ 1×",
      met: ratio >= 1,
    },
  ];
}
