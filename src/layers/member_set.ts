/**
 * {@linkcode MemberSet}: a group's local members as a layer keeps them, a `Set` of channel names
 * that counts its removals. Native fan-out (local_fanout.ts) checks that each of its members is
 * still among the layer's; with the count unchanged (and the same set) none can have left since
 * the last check, so the check is kept instead of repeated for every member of every message.
 *
 * @module
 */

/** A `Set` of channel names that counts the names it lost (`delete` and `clear`). */
export class MemberSet extends Set<string> {
  /** How many times a name was removed (only grows). */
  removals = 0;

  override delete(channel: string): boolean {
    const removed = super.delete(channel);
    if (removed) this.removals++;
    return removed;
  }

  override clear(): void {
    if (this.size) this.removals++;
    super.clear();
  }
}

/** The removal count of `members` when it is a {@linkcode MemberSet}, else undefined. */
export function removalsOf(members: ReadonlySet<string>): number | undefined {
  return members instanceof MemberSet ? members.removals : undefined;
}
