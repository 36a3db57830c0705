/**
 * What tells a {@linkcode NatsJobQueue}'s workers when to claim again: the wake-up subject an
 * enqueue publishes to ({@linkcode wakeSignal}), and the due times of the ready messages this
 * process put back with a delay ({@linkcode PutBackTimes}).
 *
 * @module
 */
import type { NatsConnectionLike } from "./link.ts";
import type { WorkSignal } from "../../src/jobs/contract.ts";
import { clock } from "../../src/clock.ts";

/** How long after its due time a put-back message is waited for (then: another process has it). */
const PUT_BACK_GRACE_MS = 5_000;
/** How soon a claim looks again for a put-back message that is due. */
const REPOLL_MS = 10;

/**
 * A {@linkcode WorkSignal} on `subject`: `wait(ms)` ends at the first message published there
 * since the last wait (at once when one came in between), or after `ms`. `onClose` runs once the
 * subscription is gone.
 */
export function wakeSignal(
  nc: NatsConnectionLike,
  subject: string,
  onClose: () => void,
): WorkSignal & { close(): Promise<void> } {
  let dirty = false;
  let pending: Promise<void> | undefined;
  let end: (() => void) | undefined;
  const sub = nc.subscribe(subject, {
    callback: () => {
      dirty = true;
      end?.();
    },
  });
  return {
    wait: (timeoutMs: number) => {
      if (dirty) {
        dirty = false;
        return Promise.resolve();
      }
      pending ??= new Promise<void>((resolve) => {
        // Real time, not the library's clock: this wait ends a poll for JetStream's own
        // redeliveries (delayed and put-back jobs), which the server times in real time.
        const timer = setTimeout(done, timeoutMs);
        function done() {
          clearTimeout(timer);
          pending = undefined;
          end = undefined;
          dirty = false;
          resolve();
        }
        end = done;
      });
      return pending;
    },
    close: () => {
      onClose();
      if (!sub.isClosed()) sub.unsubscribe();
      end?.();
      return Promise.resolve();
    },
  };
}

/**
 * Ready messages this process put back (NAK with a delay), by ticket → when they are due (epoch
 * ms, the library's clock): claims report when the next one is due until it is seen again, or
 * until it is overdue by `PUT_BACK_GRACE_MS` (then another process took it).
 */
export class PutBackTimes {
  readonly #due = new Map<string, number>();

  /** Remembers that the message of `ticket`, put back, is due at `at`. */
  note(ticket: string, at: number): void {
    this.#due.set(ticket, at);
  }

  /** The message of `ticket` was seen again. */
  delete(ticket: string): void {
    this.#due.delete(ticket);
  }

  /**
   * Ms until the next put-back message is due; a short re-poll once one is due but not seen yet
   * (JetStream redelivers a moment after the delay).
   */
  nextDueInMs(): number | undefined {
    const now = clock.now();
    let next: number | undefined;
    for (const [ticket, due] of this.#due) {
      if (due + PUT_BACK_GRACE_MS < now) {
        this.#due.delete(ticket); // another process took it
        continue;
      }
      const ms = Math.max(REPOLL_MS, due - now);
      if (next === undefined || ms < next) next = ms;
    }
    return next;
  }
}
