/**
 * What a `RedisJobQueue` tells its `onEvent` listeners ({@linkcode RedisJobQueueEvent}): its
 * connections dropping and coming back, node-redis's reconnect attempts, `result()` waits
 * registered on their jobs, and the re-checks of waited jobs after a reconnect.
 *
 * @module
 */
import type { LinkHooks } from "./redis_client.ts";

/**
 * A connection of a `RedisJobQueue`: `commands` (enqueue, status, the workers' scripts),
 * `results` (the subscription `result()` waits on) or `blocking` (a worker's blocking reader, one
 * per `Worker`).
 */
export type RedisJobQueueConnection = "commands" | "results" | "blocking";

/**
 * What a `RedisJobQueue` tells its `onEvent` listeners, synchronously:
 *
 * - `disconnected` / `reconnected`: `connection` dropped (`reason`) / is ready again. Told once
 *   per outage of each connection, for given clients too.
 * - `reconnecting`: node-redis asked for the delay before its next attempt to reconnect
 *   `connection`; `attempt` is how many attempts failed (0: it just dropped, and node-redis tries
 *   again at once), `delayMs` the delay, whose timer is running when this is told. Only for
 *   connections the queue opened from a URL or a cluster (a given client keeps its own strategy).
 * - `waiting`: a `result()` wait on job `jobId` is registered: this producer is subscribed to its
 *   events channel and the channel is recorded on the job, so the job's outcome reaches it from
 *   now on. Not told when the job had already finished.
 * - `rechecked`: every waited job was looked at again (after a reconnect, or every
 *   `resultRecheckMs`); `jobs` is how many.
 * - `recheckFailed`: such a re-check could not be made (`error`, the `failures` in a row); it is
 *   tried again in `retryInMs`, or as soon as a connection comes back.
 */
export type RedisJobQueueEvent =
  | {
    readonly type: "disconnected";
    readonly connection: RedisJobQueueConnection;
    readonly reason: string;
  }
  | { readonly type: "reconnected"; readonly connection: RedisJobQueueConnection }
  | {
    readonly type: "reconnecting";
    readonly connection: RedisJobQueueConnection;
    readonly attempt: number;
    readonly delayMs: number;
  }
  | { readonly type: "waiting"; readonly jobId: string }
  | { readonly type: "rechecked"; readonly jobs: number }
  | {
    readonly type: "recheckFailed";
    readonly error: string;
    readonly failures: number;
    readonly retryInMs: number;
  };

/** The link hooks that tell `connection`'s drops, returns and reconnect attempts to `emit`. */
export function connectionHooks(
  emit: (event: RedisJobQueueEvent) => void,
  connection: RedisJobQueueConnection,
  onUp?: () => void,
): LinkHooks {
  return {
    onDown: (reason) => emit({ type: "disconnected", connection, reason }),
    onUp: () => {
      emit({ type: "reconnected", connection });
      onUp?.();
    },
    onRetry: (attempt, delayMs) => emit({ type: "reconnecting", connection, attempt, delayMs }),
  };
}
