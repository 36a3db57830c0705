/**
 * Job round trip: a client message → a job on Redis → a worker → the result frame back on the
 * same socket. Baseline: BullMQ add → process → QueueEvents `completed` on Node.
 *
 * @module
 */
import { node, ROOT, type Row } from "../lib.ts";
import { type Ctx, windows } from "./common.ts";
import { skipped } from "./cross.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(`${ROOT}${path}`);
    return true;
  } catch {
    return false;
  }
}

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
  if (!(await exists("src/jobs.ts"))) {
    return [{
      ...skipped(
        scenario,
        "Switchboard side missing: src/jobs.ts (job queue + Worker) is not in the tree yet",
      ),
      baselineName: "BullMQ add → process → completed",
      baseline: b.jobsPerSec,
      unit: "jobs/s",
      metric: "jobs/s",
    }];
  }
  return [skipped(scenario, "Switchboard job client not written yet")];
}
