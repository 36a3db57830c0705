/**
 * {@linkcode Recheck}: the re-check of a job queue's waited jobs (`result()` waits), shared by the
 * Redis and NATS queues. A re-check is asked for after a reconnect and every `intervalMs` while
 * anyone waits; one pass runs at a time, a failed pass is retried with backoff (or at once when
 * asked again), and each pass is told as `rechecked` or `recheckFailed` ({@linkcode RecheckEvent}).
 *
 * @module
 */
import { getLogger } from "../logger.ts";

/** What a re-check tells a queue's `onEvent` listeners. */
export type RecheckEvent =
  | { readonly type: "rechecked"; readonly jobs: number }
  | {
    readonly type: "recheckFailed";
    readonly error: string;
    readonly failures: number;
    readonly retryInMs: number;
  };

/** What a {@linkcode Recheck} runs and tells. */
export interface RecheckOptions {
  /** One pass over every waited job; resolves with how many there were, rejects when it failed. */
  pass(): Promise<number>;
  /** How many jobs are waited on (no pass while none). */
  waiting(): number;
  /** Tells the queue's listeners. */
  emit(event: RecheckEvent): void;
  /** The pause between failed passes never exceeds this, in ms. */
  maxDelayMs: number;
  /** The periodic re-check, in ms, while anyone waits. */
  intervalMs: number;
  /** Names the queue in the warning of a first failure. */
  label: string;
}

/** The re-check loop of one queue's waits. */
export class Recheck {
  readonly #o: RecheckOptions;
  #closed = false;
  #wanted = false;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** A loop that runs `options.pass`. */
  constructor(options: RecheckOptions) {
    this.#o = options;
  }

  /** Asks for a pass now (a running pass is followed by another; a pause between retries ends). */
  request(): void {
    if (this.#closed || this.#o.waiting() === 0) return;
    this.#wanted = true;
    this.#wake?.();
    this.#running ??= this.#loop().finally(() => this.#running = undefined);
  }

  /** Starts the periodic re-check (idempotent): call when a wait is registered. */
  start(): void {
    this.#timer ??= setInterval(() => this.request(), this.#o.intervalMs);
  }

  /** Stops the periodic re-check: call when nobody waits any more. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops for good; resolves once a pass in progress ended. */
  close(): Promise<void> {
    this.#closed = true;
    this.stop();
    this.#wake?.();
    return this.#running ?? Promise.resolve();
  }

  async #loop(): Promise<void> {
    let failures = 0;
    while (this.#wanted && !this.#closed && this.#o.waiting() > 0) {
      this.#wanted = false;
      try {
        const jobs = await this.#o.pass();
        failures = 0;
        this.#o.emit({ type: "rechecked", jobs });
      } catch (error) {
        if (this.#closed) return;
        failures++;
        const text = String((error as Error)?.message ?? error);
        if (failures === 1) {
          getLogger().warn(`${this.#o.label}: cannot re-check waited jobs yet; retrying`, {
            error: text,
          });
        }
        this.#wanted = true;
        const delay = Math.min(50 * 2 ** Math.min(failures, 10), this.#o.maxDelayMs);
        this.#o.emit({ type: "recheckFailed", error: text, failures, retryInMs: delay });
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            this.#wake = undefined;
            resolve();
          };
          const timer = setTimeout(wake, delay);
          this.#wake = wake;
        });
      }
    }
  }
}
