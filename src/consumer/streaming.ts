/**
 * Streaming helpers: turning cumulative snapshots of a text (what many LLM and search APIs send)
 * into the deltas a client appends.
 *
 * @module
 */

/** What {@linkcode DeltaTracker.advance} returns. */
export interface DeltaStep {
  /** The text to send: the new suffix, or the whole snapshot when `rewritten`. */
  readonly delta: string;
  /**
   * True when the snapshot does not extend the text seen so far (the source rewrote earlier
   * text): `delta` is then the full snapshot and the client must replace, not append.
   */
  readonly rewritten: boolean;
}

/**
 * Converts cumulative snapshots into deltas.
 *
 * ```ts
 * const tracker = new DeltaTracker();
 * tracker.push("Hel");   // "Hel"
 * tracker.push("Hello"); // "lo"
 * tracker.push("Hello"); // ""
 * tracker.advance("Help"); // { delta: "Help", rewritten: true }
 * ```
 */
export class DeltaTracker {
  #text = "";

  /** The accumulated text (the last snapshot). */
  get text(): string {
    return this.#text;
  }

  /**
   * Takes the next snapshot and returns the text to send: the new suffix when the snapshot
   * extends the previous one, else the whole snapshot (use {@linkcode advance} to tell the two
   * apart).
   */
  push(snapshot: string): string {
    return this.advance(snapshot).delta;
  }

  /** Takes the next snapshot; returns the delta and whether the text was rewritten. */
  advance(snapshot: string): DeltaStep {
    if (typeof snapshot !== "string") {
      throw new TypeError("DeltaTracker: a snapshot must be a string");
    }
    const previous = this.#text;
    this.#text = snapshot;
    if (snapshot.startsWith(previous)) {
      return { delta: snapshot.slice(previous.length), rewritten: false };
    }
    return { delta: snapshot, rewritten: true };
  }

  /** Forgets the accumulated text (start of a new stream). */
  reset(): void {
    this.#text = "";
  }
}
