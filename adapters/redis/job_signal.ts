/**
 * The work signal of a {@linkcode RedisJobQueue}'s worker: a `BLPOP` on the queue's wake-up list
 * over a blocking connection of its own.
 *
 * @module
 */
import type { WorkSignal } from "../../src/jobs/contract.ts";
import type { RedisLink } from "./redis_client.ts";

/**
 * A {@linkcode WorkSignal} on `conn`: `wait(ms)` blocks on `wakeKey` for up to `ms` and ends at
 * the first wake-up token (level-triggered: a token that came while nobody waited ends the next
 * wait at once). `onToken` gets each token (the id of a job that became ready); `onClose` runs
 * once, when it is closed.
 */
export function blockingSignal(
  conn: RedisLink,
  wakeKey: string,
  onToken: (id: string) => void,
  onClose: () => void,
): WorkSignal & { close(): Promise<void> } {
  let dirty = false;
  let closed = false;
  let pending: Promise<void> | undefined;
  return {
    wait: (timeoutMs: number): Promise<void> => {
      if (dirty || closed) {
        dirty = false;
        return Promise.resolve();
      }
      if (pending) return pending;
      const seconds = (Math.max(10, timeoutMs) / 1000).toFixed(3);
      pending = conn.client.sendCommand(["BLPOP", wakeKey, seconds]).then(
        (reply) => {
          // Level-triggered: remember a token nobody may be awaiting any more.
          if (reply !== null && reply !== undefined) dirty = true;
          // The token is the id of a job that became ready: likely the head to claim.
          const id = Array.isArray(reply) ? reply[1] : undefined;
          if (typeof id === "string") onToken(id);
        },
        async () => {
          // RedisLink trouble: do not spin; the worker claims (and backs off) on its own.
          if (!closed) await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 500)));
        },
      ).finally(() => pending = undefined);
      return pending;
    },
    close: async (): Promise<void> => {
      if (closed) return;
      closed = true;
      onClose();
      conn.detach();
      try {
        conn.client.destroy();
      } catch {
        // already closed
      }
      await pending?.catch(() => {});
      await conn.settled();
    },
  };
}
