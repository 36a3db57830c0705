/**
 * The tutorial's job queue and worker: in memory by default (with a worker in the app process),
 * on NATS JetStream when NATS_URL is set, else on Redis when REDIS_URL is set, on a Redis Cluster
 * when REDIS_CLUSTER_URLS is (the worker may then run apart: `deno task worker`).
 */
import { InMemoryJobQueue } from "../../../adapters/memory/mod.ts";
import { RedisJobQueue } from "../../../adapters/redis/mod.ts";
import { NatsJobQueue } from "../../../adapters/nats/mod.ts";
import type { JobHandle, JobQueue, JobQueueDepth } from "../../../src/jobs/contract.ts";
import { Worker } from "../../../src/jobs/worker.ts";
import type { JobObserver } from "../../../mod.ts";
import { redisPrefix } from "../layers.ts";
import { natsServers, redisTarget } from "../settings.ts";
import { functions, JOB_TYPES, type JobType } from "./tasks.ts";

type TutorialQueue = JobQueue & ConstructorParameters<typeof Worker>[0] & {
  depth(): Promise<JobQueueDepth>;
};

let queue: TutorialQueue | undefined;

/** The process's job queue (made on first use). */
export function jobQueue(): TutorialQueue {
  if (!queue) {
    const nats = natsServers();
    const target = redisTarget();
    const prefix = redisPrefix();
    queue = nats
      ? new NatsJobQueue({ servers: nats, prefix })
      : !target
      ? new InMemoryJobQueue()
      : "cluster" in target
      // Every key of the queue shares one hash tag: one slot per queue on the cluster.
      ? new RedisJobQueue({ ...target, prefix: `${prefix}:{jobs}` })
      : new RedisJobQueue({ ...target, prefix: `${prefix}:jobs` });
  }
  return queue;
}

/** Closes the queue (tests and shutdown); the next `jobQueue()` makes a new one. */
export async function closeJobQueue(): Promise<void> {
  const q = queue;
  queue = undefined;
  await q?.close();
}

/**
 * A worker for the tutorial's job functions (chanx: max_jobs 10, job_timeout 300); `observer`:
 * the app's metrics (`metricsOf(app).jobs`) when the worker runs in the app's process.
 */
export function createWorker(options: { observer?: JobObserver } = {}): Worker {
  return new Worker(jobQueue(), {
    observer: options.observer,
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
