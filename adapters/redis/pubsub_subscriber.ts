/**
 * The subscriber of the Redis pub/sub layer: one per host and layer instance, on a dedicated
 * link. It keeps the host's Redis channel subscriptions in line with what the layer wants (one
 * ordered chain of SUBSCRIBE / UNSUBSCRIBE per channel, unconfirmed ones retried), notices the
 * link dropping and coming back, restores the subscriptions after a reconnect, and tells the
 * layer when the host can hear again (the layer then signals the resync). The pub/sub
 * counterpart of the queue layer's `queue_reader.ts`.
 *
 * @module
 */
import { getLogger, LayerUnavailableError } from "../../src/layers/kit.ts";
import {
  type BackoffOptions,
  closeLink,
  openLink,
  type RedisHost,
  type RedisLink,
  type RedisTimeouts,
  unavailable,
} from "./redis_client.ts";

/** What a subscriber needs from its layer. */
export interface SubscriberHost {
  /** Index of the host (for logs and events). */
  readonly index: number;
  /** Where the host is. */
  readonly redis: RedisHost;
  /** Reconnect backoff. */
  readonly backoff?: BackoffOptions;
  /** Connect and command timeouts. */
  readonly timeouts: Required<RedisTimeouts>;
  /** The one listener of every subscription. */
  readonly listener: (message: string, channel: string) => void;
  /** True once the layer is closed. */
  closed(): boolean;
  /** True while the host's command link can publish (or is not opened). */
  commandReady(): boolean;
  /** Whether the layer needs Redis channel `key` subscribed. */
  wanted(key: string): boolean;
  /** The Redis channels the layer routes to this host. */
  keys(): Iterable<string>;
  /** `key` was unsubscribed and is not wanted: the layer may forget its route. */
  forget(key: string): void;
  /** The subscriber link dropped. */
  down(reason: string): void;
  /** The subscriber reconnected with its subscriptions restored (the layer signals resync). */
  rejoined(): Promise<void>;
}

/** The subscriber of one host. */
export class HostSubscriber {
  /** The subscriber link, once open. */
  link: RedisLink | undefined;
  /** Redis channels whose SUBSCRIBE Redis confirmed (and no UNSUBSCRIBE confirmed since). */
  readonly subscribed: Set<string> = new Set();
  /**
   * Redis channels whose last SUBSCRIBE or UNSUBSCRIBE failed or timed out: node-redis may
   * still be subscribed (it keeps the listener of a failed UNSUBSCRIBE and re-subscribes it on
   * reconnect). Reconciled again after a reconnect and by a retry timer.
   */
  readonly unsure: Set<string> = new Set();
  /** Per Redis channel: the chain of subscribe/unsubscribe operations. */
  readonly #ops = new Map<string, Promise<void>>();
  readonly #host: SubscriberHost;
  #down = false;
  /** The subscriber reconnected and its subscriptions are not restored yet. */
  #rejoining = false;
  /** Told whenever the host may be back (another host's resync waits for it, bounded). */
  #backWaiters: Array<() => void> = [];
  /** The retry timer of `unsure` channels. */
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Counts the reconnects: the rejoin of an older one gives way to a newer one. */
  #cycle = 0;
  /** Wakes the pauses between two tries of the rejoin PING (at close). */
  readonly #pauses = new Set<() => void>();

  /** A subscriber for `host`; it connects on {@linkcode open}. */
  constructor(host: SubscriberHost) {
    this.#host = host;
  }

  /** Opens the subscriber link. */
  async open(label: string): Promise<void> {
    const host = this.#host;
    this.link = await openLink(host.redis, label, {
      duplicate: true,
      backoff: host.backoff,
      timeouts: host.timeouts,
      hooks: {
        onDown: (reason) => {
          if (this.#down || host.closed()) return;
          this.#down = true;
          host.down(`Redis host ${host.index}: ${reason}`);
        },
        onUp: () => {
          if (!this.#down || host.closed()) return;
          this.#down = false;
          this.#rejoining = true;
          this.#afterReconnect(++this.#cycle);
        },
      },
    });
  }

  /** True when `key` is not (surely) subscribed yet, or an operation on it is pending. */
  needs(key: string): boolean {
    return !this.subscribed.has(key) || this.#ops.has(key);
  }

  /**
   * Resolves once every message Redis had written to this subscriber before the call has been
   * heard: a PING on the subscriber connection is answered after them. Bounded by the command
   * timeout; a link that is down or does not answer resolves too (nothing more can arrive).
   */
  async heardAll(): Promise<void> {
    if (this.#down || !this.link) return;
    try {
      await this.link.client.sendCommand(["PING"]);
    } catch {
      // Down or paused: what it had not delivered is not delivered before this returns.
    }
  }

  /** Tells the waits of {@linkcode back} to look again. */
  releaseBackWaiters(): void {
    for (const check of this.#backWaiters.splice(0)) check();
  }

  /**
   * Resolves once the host can publish and hear again (its command link is ready, its
   * subscriber connected with its subscriptions restored), the layer closed, or `ms` passed.
   */
  back(ms: number): Promise<void> {
    const isBack = () =>
      this.#host.closed() || (this.#host.commandReady() && !this.#down && !this.#rejoining);
    if (isBack()) return Promise.resolve();
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      const check = () => {
        if (done) return;
        if (isBack()) finish();
        else this.#backWaiters.push(check);
      };
      this.#backWaiters.push(check);
    });
  }

  /** True while the reconnect `cycle` is the latest and the link is up (the layer open). */
  #current(cycle: number): boolean {
    return cycle === this.#cycle && !this.#down && !this.#host.closed();
  }

  async #afterReconnect(cycle: number): Promise<void> {
    // node-redis re-subscribes on reconnect; a PING on the same connection is answered after the
    // SUBSCRIBE replies, so once it returns the subscriptions are in place again.
    const answered = await this.#rejoinPing(cycle);
    if (answered) {
      // node-redis re-subscribed what it holds listeners for; bring the rest in line: channels
      // whose SUBSCRIBE failed while Redis was away, and ones whose UNSUBSCRIBE did not complete.
      await this.restore();
    }
    // A newer reconnect (or a drop) meanwhile: its own rejoin signals, once it is back.
    if (!this.#current(cycle)) return;
    this.#rejoining = false;
    this.releaseBackWaiters();
    await this.#host.rejoined();
  }

  /**
   * PINGs the subscriber link until Redis answers: true once it did, false when the link dropped
   * again (the next ready starts a new rejoin), a newer reconnect began or the layer closed.
   * Never gives up while the link is up: a Redis that restarted from its append-only file or
   * snapshot accepts connections and SUBSCRIBEs while it loads its data set but answers PING
   * with `-LOADING` (for seconds with a large data set), and a paused one does not answer (the
   * command timeout): giving up there would skip the resync, and what was published during the
   * outage would be lost untold.
   */
  async #rejoinPing(cycle: number): Promise<boolean> {
    let delayMs = 50;
    let told = false;
    while (this.#current(cycle)) {
      try {
        await this.link?.client.sendCommand(["PING"]);
        return this.#current(cycle);
      } catch (error) {
        if (!this.#current(cycle)) return false;
        if (!told) {
          told = true;
          getLogger().warn(
            `Redis pub/sub layer: host ${this.#host.index} reconnected but does not answer yet ` +
              `(${(error as Error)?.message ?? error}); the resync waits until it does`,
          );
        }
      }
      await this.#pause(delayMs);
      delayMs = Math.min(delayMs * 2, 1000);
    }
    return false;
  }

  /** Waits `ms`, or less when the subscriber closes. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#pauses.add(wake);
    });
  }

  /** Reconciles every channel of the host that is unsure or wanted but not subscribed. */
  async restore(): Promise<void> {
    const keys = new Set(this.unsure);
    for (const key of this.#host.keys()) {
      if (!this.subscribed.has(key) && this.#host.wanted(key)) keys.add(key);
    }
    await Promise.all([...keys].map((key) => this.reconcile(key).catch(() => {})));
  }

  /** Retries unsure channels later (a paused Redis answers again without reconnecting). */
  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#host.closed()) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#host.closed() || this.unsure.size === 0) return;
      if (!this.link?.client.isReady) return; // the reconnect restores them
      this.restore().then(() => {
        if (this.unsure.size) this.#scheduleRetry();
      });
    }, Math.min(this.#host.timeouts.commandTimeoutMs, 1000));
  }

  /** Brings the subscription state of `key` in line with what is needed, in order. */
  reconcile(key: string): Promise<void> {
    const previous = this.#ops.get(key) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(async () => {
      const wanted = this.#host.wanted(key);
      const sub = this.link?.client;
      if (!sub) throw new LayerUnavailableError("The Redis pub/sub layer is not connected");
      if (wanted && !this.subscribed.has(key)) {
        try {
          await sub.subscribe(key, this.#host.listener);
        } catch (error) {
          // Unknown outcome (a timeout): node-redis may still subscribe; the same listener
          // makes that harmless, and the retry brings it in line with what is wanted.
          this.unsure.add(key);
          this.#scheduleRetry();
          throw unavailable(`SUBSCRIBE ${key}`, error);
        }
        this.subscribed.add(key);
        this.unsure.delete(key);
      } else if (!wanted && (this.subscribed.has(key) || this.unsure.has(key))) {
        try {
          await sub.unsubscribe(key);
        } catch (error) {
          // Not confirmed: still (possibly) subscribed. Keep knowing it, retry later.
          this.unsure.add(key);
          this.#scheduleRetry();
          getLogger().warn(`Redis pub/sub layer: UNSUBSCRIBE ${key} failed: ${error}`);
          return;
        }
        this.subscribed.delete(key);
        this.unsure.delete(key);
        if (!this.#host.wanted(key)) this.#host.forget(key);
      } else if (wanted) {
        this.unsure.delete(key);
      }
    });
    this.#ops.set(key, next);
    next.finally(() => {
      if (this.#ops.get(key) === next) this.#ops.delete(key);
    }).catch(() => {});
    return next;
  }

  /** Waits for pending operations, unsubscribes by name and closes the link. */
  async close(): Promise<void> {
    this.releaseBackWaiters();
    for (const wake of [...this.#pauses]) wake();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await Promise.all([...this.#ops.values()].map((p) => p.catch(() => {})));
    const sub = this.link;
    this.link = undefined;
    if (!sub) return;
    if (sub.client.isReady) {
      for (const key of this.subscribed) {
        try {
          await sub.client.unsubscribe(key);
        } catch {
          break; // connection trouble: destroy below
        }
      }
    }
    this.subscribed.clear();
    this.unsure.clear();
    await closeLink(sub);
  }
}
