/**
 * The newest position this process knows of each history group it has connections in, per
 * layer: what its connections' streams delivered or read from the layer. A connection that joins
 * a group while the layer is away (its start position cannot be read) starts from the position
 * known when it opened its stream: every message appended after that point, so after its join,
 * follows that position, and the gap fill reads it back once the layer is there again.
 *
 * Only positions the layer gave count (a message's stamp, a read's answer), never a client's
 * claim: a client cannot move another connection's start. A group's entry lives while a stream
 * of it is open in the process, so the map is bounded by the open streams.
 *
 * @module
 */
import type { StreamPosition } from "../layers/history.ts";
import type { ChannelLayer } from "../layers/layer.ts";

/** A stream's hold on its group's entry: the position known when it was taken, and a pen. */
export interface KnownHold {
  /** The newest position known of the group when the hold was taken (none: nothing known). */
  readonly position: StreamPosition | undefined;
  /**
   * Notes a position the layer gave for the group (a stamp, a read; never a client's claim):
   * the newest of one epoch is kept, a position of another epoch replaces it (the history was
   * lost and made again).
   */
  note(offset: number, epoch: string): void;
  /** The stream closed (idempotent): the entry goes with its last holder. */
  release(): void;
}

interface Entry {
  position: StreamPosition | undefined;
  holders: number;
}

/** The known positions of one layer's groups in this process. */
export class KnownPositions {
  readonly #groups = new Map<string, Entry>();

  /** A stream of `group` opens: it holds the group's entry (made when there is none). */
  hold(group: string): KnownHold {
    let entry = this.#groups.get(group);
    if (!entry) this.#groups.set(group, entry = { position: undefined, holders: 0 });
    entry.holders++;
    let held = true;
    const groups = this.#groups;
    return {
      position: entry.position,
      note(offset, epoch) {
        const known = entry.position;
        if (known && known.epoch === epoch && known.offset >= offset) return;
        entry.position = { offset, epoch };
      },
      release() {
        if (!held) return;
        held = false;
        if (--entry.holders === 0 && groups.get(group) === entry) groups.delete(group);
      },
    };
  }

  /** The number of groups with an entry (tests). */
  get size(): number {
    return this.#groups.size;
  }
}

const byLayer = new WeakMap<ChannelLayer, KnownPositions>();

/** The known positions of `layer`'s groups in this process. */
export function knownPositions(layer: ChannelLayer): KnownPositions {
  let known = byLayer.get(layer);
  if (!known) byLayer.set(layer, known = new KnownPositions());
  return known;
}
