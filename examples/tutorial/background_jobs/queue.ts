/**
 * The tutorial's job queue and worker: in memory by default (with a worker in the app process),
 * on Redis when REDIS_URL is set (the worker may then run apart: `deno task worker`).
 */
import { InMemoryJobQueue } from "../../../adapters/memory/mod.ts";
import { RedisJobQueue } from "../../../adapters/redis/mod.ts";
import type { JobHandle, JobQueue } from "../../../src/jobs/contract.ts";
import { Worker } from "../../../src/jobs/worker.ts";
import { redisPrefix } from "../layers.ts";
import { redisUrl } from "../settings.ts";
import { functions, JOB_TYPES, type JobType } from "./tasks.ts";

let queue: (JobQueue & ConstructorParameters<typeof Worker>[0]) | undefined;

/** The process's job queue (made on first use). */
export function jobQueue(): JobQueue & ConstructorParameters<typeof Worker>[0] {
  if (!queue) {
    const url = redisUrl();
    const prefix = redisPrefix();
    queue = url ? new RedisJobQueue({ url, prefix: `${prefix}:jobs` }) : new InMemoryJobQueue();
  }
  return queue;
}

/** Closes the queue (tests and shutdown); the next `jobQueue()` makes a new one. */
export async function closeJobQueue(): Promise<void> {
  const q = queue;
  queue = undefined;
  await q?.close();
}

/** A worker for the tutorial's job functions (chanx: max_jobs 10, job_timeout 300). */
export function createWorker(): Worker {
  return new Worker(jobQueue(), {
    functions,
    concurrency: 10,
    jobTimeoutMs: 300_000,
    leaseMs: 30_000,
  });
}

/** Enqueues a job of `type` (unknown types run as `default`) for `channelName`; returns its handle. */
export function enqueueJob(type: string, content: string, channelName: string): Promise<JobHandle> {
  const name: JobType = (JOB_TYPES as readonly string[]).includes(type)
    ? type as JobType
    : "default";
  return jobQueue().enqueue(name, [content, channelName]);
}

/** Enqueues a job of `type` (unknown types run as `default`) for `channelName`; returns its id. */
export async function queueJob(
  type: string,
  content: string,
  channelName: string,
): Promise<string> {
  return (await enqueueJob(type, content, channelName)).id;
}
