/**
 * What a `NatsJobQueue` tells its `onEvent` listeners ({@linkcode NatsJobQueueEvent}): its
 * connection dropping and coming back, `result()` waits registered on their jobs, and the
 * re-checks of waited jobs after a reconnect.
 *
 * @module
 */

/**
 * What a `NatsJobQueue` tells its `onEvent` listeners, synchronously:
 *
 * - `disconnected` / `reconnected`: the queue's NATS connection dropped (`reason`) / is back
 *   (the NATS client reconnects by itself, with the queue's `backoff`). Told once per outage.
 * - `waiting`: a `result()` wait on job `jobId` is registered: the server confirmed the
 *   subscription to the job's `done` subject and the job, read after that, had not finished, so
 *   its outcome reaches the wait from now on. Not told when the job had already finished.
 * - `rechecked`: every waited job was read again — after a reconnect (a `done` message published
 *   during the outage is never heard), or every `resultRecheckMs`; `jobs` is how many.
 * - `recheckFailed`: such a re-check could not be made (`error`, the `failures` in a row); it is
 *   tried again in `retryInMs`, or as soon as the connection comes back.
 */
export type NatsJobQueueEvent =
  | { readonly type: "disconnected"; readonly reason: string }
  | { readonly type: "reconnected" }
  | { readonly type: "waiting"; readonly jobId: string }
  | { readonly type: "rechecked"; readonly jobs: number }
  | {
    readonly type: "recheckFailed";
    readonly error: string;
    readonly failures: number;
    readonly retryInMs: number;
  };
