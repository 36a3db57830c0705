/**
 * Batched diff frames: one feed per (backend, group, interval) in a process merges the group's
 * diffs and sends one `presence_diff` frame per interval to every local member that asked for
 * diffs. The frame is frozen and shared, so a fan-out to N sockets serializes it once. The first
 * diff after a quiet interval goes out at once (next tick); later ones wait for the interval.
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import type { AnyMessage } from "../protocol/message.ts";
import type { PresenceBackend, PresenceDiff, PresenceEntries, PresenceMeta } from "./backend.ts";
import { PRESENCE_DIFF_ACTION } from "./frames.ts";

/** Most keys one diff frame carries; past it the frame says `resync` instead. */
export const MAX_DIFF_KEYS = 1000;

/** Receives a frozen `presence_diff` frame. */
export type DiffSink = (frame: AnyMessage) => void;

interface Change {
  first: "join" | "leave";
  last: "join" | "leave";
  joined?: PresenceMeta[];
  left?: PresenceMeta[];
}

/** Merges the diffs of one group between two frames. */
export class DiffMerge {
  #changes = new Map<string, Change>();
  #resync = false;

  /** True when nothing is pending. */
  get empty(): boolean {
    return this.#changes.size === 0 && !this.#resync;
  }

  /** Adds one diff (leaves before joins, as a client applies them). */
  add(diff: PresenceDiff): void {
    if (this.#resync) return;
    if (diff.resync) return this.#overflow();
    for (const [key, metas] of Object.entries(diff.leaves)) this.#note(key, "leave", metas);
    for (const [key, metas] of Object.entries(diff.joins)) this.#note(key, "join", metas);
    if (this.#changes.size > MAX_DIFF_KEYS) this.#overflow();
  }

  #overflow(): void {
    this.#resync = true;
    this.#changes.clear();
  }

  #note(key: string, kind: "join" | "leave", metas: PresenceMeta[]): void {
    let c = this.#changes.get(key);
    if (!c) this.#changes.set(key, c = { first: kind, last: kind });
    c.last = kind;
    if (kind === "join") c.joined = metas;
    else if (c.first === "leave" && !c.left) c.left = metas;
  }

  /**
   * The net diff, and resets: a key that joined and left within the window is not reported; one
   * that left and came back is in both `leaves` and `joins`.
   */
  take(group: string): PresenceDiff {
    const joins: PresenceEntries = {};
    const leaves: PresenceEntries = {};
    const resync = this.#resync;
    for (const [key, c] of this.#changes) {
      if (c.first === "leave") leaves[key] = c.left ?? [];
      if (c.last === "join") joins[key] = c.joined ?? [];
    }
    this.#changes = new Map();
    this.#resync = false;
    return resync ? { group, joins: {}, leaves: {}, resync: true } : { group, joins, leaves };
  }
}

/** One group's feed in this process. */
class DiffFeed {
  readonly sinks = new Set<DiffSink>();
  readonly #merge = new DiffMerge();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = 0;
  unsubscribe: Promise<() => Promise<void>> | undefined;

  constructor(readonly group: string, readonly intervalMs: number) {}

  push = (diff: PresenceDiff): void => {
    this.#merge.add(diff);
    if (this.#timer !== undefined || this.#merge.empty) return;
    const delay = Math.max(0, this.#last + this.intervalMs - Date.now());
    this.#timer = setTimeout(() => this.#flush(), delay);
  };

  #flush(): void {
    this.#timer = undefined;
    this.#last = Date.now();
    const diff = this.#merge.take(this.group);
    if (!diff.resync && !hasKeys(diff.joins) && !hasKeys(diff.leaves)) return;
    Object.freeze(diff.joins);
    Object.freeze(diff.leaves);
    const frame: AnyMessage = Object.freeze({
      action: PRESENCE_DIFF_ACTION,
      payload: Object.freeze(diff),
    });
    for (const sink of this.sinks) {
      try {
        sink(frame);
      } catch (error) {
        getLogger().error("Presence diff sink threw", { error });
      }
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

const feeds = new WeakMap<PresenceBackend, Map<string, DiffFeed>>();

/**
 * Adds `sink` to the diff feed of `group` on `backend` (subscribing the feed on first use);
 * resolves to the function that removes it (the last sink out unsubscribes the feed).
 */
export async function addDiffSink(
  backend: PresenceBackend,
  group: string,
  intervalMs: number,
  sink: DiffSink,
): Promise<() => Promise<void>> {
  let map = feeds.get(backend);
  if (!map) feeds.set(backend, map = new Map());
  const id = `${intervalMs}\0${group}`;
  let feed = map.get(id);
  if (!feed) {
    const made = feed = new DiffFeed(group, intervalMs);
    map.set(id, made);
    made.unsubscribe = backend.subscribe(group, made.push);
    made.unsubscribe.catch(() => {
      if (map.get(id) === made) map.delete(id);
    });
  }
  feed.sinks.add(sink);
  const current = feed;
  try {
    await current.unsubscribe;
  } catch (error) {
    current.sinks.delete(sink);
    throw error;
  }
  let removed = false;
  return async () => {
    if (removed) return;
    removed = true;
    current.sinks.delete(sink);
    if (current.sinks.size > 0 || map.get(id) !== current) return;
    map.delete(id);
    current.stop();
    const unsubscribe = await current.unsubscribe!.catch(() => undefined);
    await unsubscribe?.();
  };
}
