/**
 * `GET /healthz`: the readiness check a user or a load balancer asks. 200 `{"status": "ok", …}`
 * only when every channel layer and the job queue answer within a bounded time; otherwise 503
 * `{"status": "unavailable", "failed": ["layer:chat", "jobs"], "checks": {…}}` naming what did not
 * answer and why. Each check is a real round trip to the backend (a send to a group nobody is in,
 * a lookup of a job that does not exist) and leaves nothing behind.
 */
import type { App, ChannelLayer } from "../../mod.ts";
import type { JobQueue } from "../../src/jobs/contract.ts";

/** What `/healthz` checks. */
export interface HealthOptions {
  /** The layers by alias, each resolved when a check runs. */
  layers: Readonly<Record<string, () => ChannelLayer>>;
  /** The job queue, resolved when a check runs. */
  queue: () => JobQueue;
  /** Longest wait for one answer, ms (default 2,000). */
  timeoutMs?: number;
}

/** One check's outcome. */
export interface CheckResult {
  /** Whether it answered in time. */
  ok: boolean;
  /** How long it took, ms. */
  ms: number;
  /** Why it failed (an error message or "no answer within N ms"). */
  error?: string;
}

/** A probe's result within `ms`, or a rejection saying it did not answer. */
async function bounded(probe: () => Promise<unknown>, ms: number): Promise<CheckResult> {
  const start = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([Promise.resolve().then(probe), timeout]);
    return { ok: true, ms: Math.round(performance.now() - start) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, ms: Math.round(performance.now() - start), error: message.slice(0, 300) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check: `{ "layer:<alias>": …, "jobs": … }`. */
export async function checkHealth(options: HealthOptions): Promise<Record<string, CheckResult>> {
  const ms = options.timeoutMs ?? 2000;
  const entries = await Promise.all([
    ...Object.entries(options.layers).map(async ([alias, layer]) =>
      [
        `layer:${alias}`,
        await bounded(() => layer().groupSend("switchboard.healthz", { type: "healthz" }), ms),
      ] as const
    ),
    ["jobs", await bounded(() => options.queue().getJob("healthz-probe"), ms)] as const,
  ]);
  return Object.fromEntries(entries);
}

/** Mounts `GET /healthz` on `app` and returns it. */
export function mountHealth(app: App, options: HealthOptions): App {
  return app.get("/healthz", async () => {
    const checks = await checkHealth(options);
    const failed = Object.keys(checks).filter((name) => !checks[name].ok);
    return new Response(
      JSON.stringify({ status: failed.length ? "unavailable" : "ok", failed, checks }),
      {
        status: failed.length ? 503 : 200,
        headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
      },
    );
  });
}
