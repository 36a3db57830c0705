/**
 * The group memberships one layer instance added and has not discarded: what it renews while it
 * lives and restores after Redis lost them (a restart without persistence, a flush elsewhere).
 *
 * @module
 */
import { getLogger } from "../../src/layers/kit.ts";
import type { RedisClientLike } from "./redis_client.ts";
import { GROUP_ADD } from "./scripts.ts";

/** A host whose memberships {@linkcode HeldGroups.renewOn} renews. */
export interface RenewalHost {
  /** Index of the host (in logs). */
  readonly index: number;
  /** The renewal running on this host, if any. */
  restoring?: Promise<void>;
  /** The host's command link, once connected. */
  readonly command?: { readonly client: RedisClientLike };
}

/** Memberships renewed per GROUP_ADD call. */
const RENEW_BATCH = 500;

/** Group → channels this process added, in insertion order. */
export class HeldGroups {
  readonly #groups = new Map<string, Set<string>>();
  #count = 0;

  /** Number of memberships held. */
  get size(): number {
    return this.#count;
  }

  /** Records that this process added `channel` to `group`. */
  add(group: string, channel: string): void {
    let members = this.#groups.get(group);
    if (!members) this.#groups.set(group, members = new Set());
    if (!members.has(channel)) {
      members.add(channel);
      this.#count++;
    }
  }

  /** Forgets one membership (discarded, or its `groupAdd` failed). */
  delete(group: string, channel: string): void {
    const members = this.#groups.get(group);
    if (!members?.delete(channel)) return;
    this.#count--;
    if (members.size === 0) this.#groups.delete(group);
  }

  /** True when this process holds `channel` in `group`. */
  has(group: string, channel: string): boolean {
    return this.#groups.get(group)?.has(channel) ?? false;
  }

  /** Groups (with a snapshot of their channels) for which `pick(group)` is true. */
  snapshot(pick: (group: string) => boolean = () => true): Array<[string, string[]]> {
    const out: Array<[string, string[]]> = [];
    for (const [group, members] of this.#groups) {
      if (pick(group)) out.push([group, [...members]]);
    }
    return out;
  }

  /**
   * Adds again (renews, or restores after Redis lost them) the memberships of the groups `pick`
   * selects, on `client`, with the group TTL `groupExpiryMs`. A membership discarded meanwhile
   * is skipped.
   */
  async renew(
    client: RedisClientLike,
    pick: (group: string) => boolean,
    groupKey: (group: string) => string,
    groupExpiryMs: number,
  ): Promise<void> {
    await Promise.all(
      this.snapshot(pick).map(async ([group, channels]) => {
        for (let i = 0; i < channels.length; i += RENEW_BATCH) {
          const batch = channels.slice(i, i + RENEW_BATCH).filter((c) => this.has(group, c));
          if (batch.length === 0) continue;
          await GROUP_ADD.run(client, [groupKey(group)], [String(groupExpiryMs), ...batch]);
        }
      }),
    );
  }

  /**
   * Renews (or restores) on `host` the memberships of the groups `pick` selects, after the
   * renewal already running there (`host.restoring` is the last one); skipped while the host's
   * command link is not ready or `closed()`; a failure is logged, never thrown.
   */
  renewOn(
    host: RenewalHost,
    closed: () => boolean,
    pick: (group: string) => boolean,
    groupKey: (group: string) => string,
    groupExpiryMs: number,
  ): Promise<void> {
    const previous = host.restoring ?? Promise.resolve();
    const run: Promise<void> = previous.then(async () => {
      const client = host.command?.client;
      if (closed() || !client?.isReady) return;
      await this.renew(client, pick, groupKey, groupExpiryMs);
    }).catch((error) => {
      getLogger().warn(`Redis queue layer: renewing memberships on host ${host.index} failed`, {
        error,
      });
    }).finally(() => {
      if (host.restoring === run) host.restoring = undefined;
    });
    host.restoring = run;
    return run;
  }

  /** Forgets everything (flush, close). */
  clear(): void {
    this.#groups.clear();
    this.#count = 0;
  }
}
