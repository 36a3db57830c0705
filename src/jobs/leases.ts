/**
 * The leases a worker holds on the jobs it runs: renewed on every heartbeat (a try whose lease
 * was lost is given up, since another worker may run it), expired leases of any worker returned
 * to the queue by the reaper, and unfinished tries given back when the worker stops.
 *
 * @module
 */
import { describeError, JobAbortedError, type JobBackend } from "./contract.ts";
import { getLogger } from "../logger.ts";
import type { RunningTry } from "./tries.ts";

/**
 * Renews the leases of the tries in `running` that are not given up; aborts (with
 * {@linkcode JobAbortedError} `lease_lost`) those whose lease the backend reports lost. Never
 * throws: a failed renewal is logged and retried on the next heartbeat.
 */
export async function renewLeases(
  backend: JobBackend,
  running: ReadonlyMap<string, RunningTry>,
  leaseMs: number,
): Promise<void> {
  const leases = [...running.values()].filter((r) => !r.abandoned).map((r) => ({
    id: r.job.id,
    token: r.job.token,
  }));
  if (leases.length === 0) return;
  try {
    // By token, not by job id: this worker may hold a fresh try of a job whose old try lost
    // its lease, and only the old one must be aborted.
    const lost = new Set((await backend.renew(leases, leaseMs)).map((l) => l.token));
    if (lost.size === 0) return;
    for (const r of running.values()) {
      // A try whose function already returned is recording its outcome: a renew that started
      // before that (and found the job finished) reports a stale loss, and if the loss is real
      // the backend refuses the outcome. Nothing is left to abort.
      if (lost.has(r.job.token) && !r.abandoned && !r.returned) {
        getLogger().warn(`Job ${r.job.id}: lease lost; another worker may run it`);
        r.abandoned = true;
        r.controller.abort(new JobAbortedError(r.job.id, "lease_lost"));
      }
    }
  } catch (error) {
    getLogger().warn("Job worker: cannot renew leases", { error: describeError(error) });
  }
}

/** Returns the expired leases of any worker to the queue; logs, never throws. */
export async function reapLeases(backend: JobBackend): Promise<void> {
  try {
    const n = await backend.reap();
    if (n > 0) {
      getLogger().warn(`Job worker: ${n} job(s) with expired leases returned to the queue`);
    }
  } catch (error) {
    getLogger().debug("Job worker: reaping failed", { error });
  }
}

/**
 * Gives up every try in `running` (aborting it with {@linkcode JobAbortedError} `shutdown`) and
 * returns its job to the front of the queue; a job that cannot be returned waits for its lease
 * to expire. Empties `running`.
 */
export async function releaseAll(
  backend: JobBackend,
  running: Map<string, RunningTry>,
): Promise<void> {
  const left = [...running.values()];
  await Promise.all(left.map(async (r) => {
    r.abandoned = true;
    r.controller.abort(new JobAbortedError(r.job.id, "shutdown"));
    try {
      await backend.release(r.job.id, r.job.token);
    } catch (error) {
      getLogger().warn("Job worker: cannot return a job to the queue (its lease will expire)", {
        jobId: r.job.id,
        error,
      });
    }
    running.delete(r.job.token);
  }));
}
