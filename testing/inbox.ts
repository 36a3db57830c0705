/**
 * A queue of frames received by a test client, with event-driven waiting (no polling).
 *
 * @module
 */

/** How the connection ended, once it did. */
export interface CloseInfo {
  /** The close code. */
  code: number;
  /** The close reason. */
  reason: string;
}

/** Raised when a receive waited longer than its timeout. */
export class ReceiveTimeoutError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ReceiveTimeoutError";
  }
}

/** Raised when a receive needs a frame but the connection closed. */
export class ConnectionClosedError extends Error {
  /** How the connection closed. */
  readonly close: CloseInfo;
  /** Creates the error. */
  constructor(close: CloseInfo) {
    super(`The connection closed (code ${close.code}${close.reason ? `: ${close.reason}` : ""})`);
    this.name = "ConnectionClosedError";
    this.close = close;
  }
}

/** Received text frames plus the close, with promise-based waits. */
export class Inbox {
  #frames: string[] = [];
  #waiters: Array<() => void> = [];
  #close: CloseInfo | undefined;
  readonly #drop: ((frame: string) => boolean) | undefined;

  #discards: Array<(frame: string) => boolean> = [];

  /** Creates an inbox; frames for which `drop` is true are discarded on arrival. */
  constructor(drop?: (frame: string) => boolean) {
    this.#drop = drop;
  }

  /** Adds a frame (unless the `drop` filter or a {@linkcode discardOne} claims it). */
  push(frame: string): void {
    if (this.#drop?.(frame)) return;
    const i = this.#discards.findIndex((match) => match(frame));
    if (i !== -1) {
      this.#discards.splice(i, 1);
      return;
    }
    this.#frames.push(frame);
    this.#wake();
  }

  /**
   * Drops the first frame for which `match` is true: the queued one if there is one, else the next
   * one to arrive (a request's own completion frame, which must not reach a later receive).
   */
  discardOne(match: (frame: string) => boolean): void {
    const i = this.#frames.findIndex(match);
    if (i !== -1) this.#frames.splice(i, 1);
    else this.#discards.push(match);
  }

  /** Records the close. */
  closed(info: CloseInfo): void {
    this.#close ??= info;
    this.#wake();
  }

  /** How the connection closed, if it did. */
  get closeInfo(): CloseInfo | undefined {
    return this.#close;
  }

  /** Frames waiting to be read. */
  get size(): number {
    return this.#frames.length;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves when a frame or the close arrives, or after `ms` (returns false on timeout). */
  waitForActivity(ms: number): Promise<boolean> {
    if (this.#frames.length || this.#close) return Promise.resolve(true);
    return this.#waitForNew(ms);
  }

  /** Takes the next frame, waiting up to `ms`. */
  async take(ms: number, what: () => string): Promise<string> {
    const deadline = Date.now() + ms;
    while (true) {
      const frame = this.#frames.shift();
      if (frame !== undefined) return frame;
      if (this.#close) throw new ConnectionClosedError(this.#close);
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.waitForActivity(left))) {
        throw new ReceiveTimeoutError(`${what()}: nothing arrived within ${ms} ms`);
      }
    }
  }

  /** Takes the first queued frame for which `match` is true (others stay), waiting up to `ms`. */
  async takeWhere(
    match: (frame: string) => boolean,
    ms: number,
    what: () => string,
  ): Promise<string> {
    const deadline = Date.now() + ms;
    while (true) {
      const i = this.#frames.findIndex(match);
      if (i !== -1) return this.#frames.splice(i, 1)[0];
      if (this.#close) throw new ConnectionClosedError(this.#close);
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.#waitForNew(left))) {
        throw new ReceiveTimeoutError(`${what()}: nothing matching arrived within ${ms} ms`);
      }
    }
  }

  /**
   * Resolves when a new frame or the close arrives, or after `ms` (false on timeout), whatever is
   * queued already: for waits that queued frames do not end (waiting for the close).
   */
  waitForNew(ms: number): Promise<boolean> {
    if (this.#close) return Promise.resolve(true);
    return this.#waitForNew(ms);
  }

  #waitForNew(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(wake);
        if (i !== -1) this.#waiters.splice(i, 1);
        resolve(false);
      }, ms);
      this.#waiters.push(wake);
    });
  }

  /** The frames waiting to be read, oldest first, without taking any. */
  snapshot(): readonly string[] {
    return [...this.#frames];
  }

  /** Takes the next frame if there is one. */
  poll(): string | undefined {
    return this.#frames.shift();
  }
}
