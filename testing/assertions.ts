/**
 * Phoenix-style assertions on a communicator's inbox: {@linkcode assertReceives} waits for a
 * matching frame (others stay queued), {@linkcode refuteReceives} proves a frame does not come
 * within a window. Failures are `AssertionError`s from `node:assert` with `actual`/`expected`, so
 * test runners print a diff of what was expected against the frames that actually arrived.
 *
 * @module
 */
import { AssertionError } from "node:assert";
import { isDeepStrictEqual } from "node:util";
import type { AnyMessage } from "../src/protocol/message.ts";
import { ConnectionClosedError, type Inbox, ReceiveTimeoutError } from "./inbox.ts";

/** What an assertion looks for: an action name, or a whole message (action and payload). */
export type FrameExpectation = string | AnyMessage;

/** A received frame: the message plus the envelope keys it carried (topic frames). */
export type ReceivedFrame<M extends AnyMessage = AnyMessage> = M & {
  /** Envelope version (topic frames). */
  version?: number;
  /** The topic (topic frames). */
  topic?: string;
  /** The echoed request id. */
  ref?: string;
  /** The broadcast sequence number. */
  seq?: number;
};

/** Options of `assertReceives`. */
export interface AssertReceivesOptions {
  /** Milliseconds to wait for the frame before failing (default 5000). Only bounds a failure. */
  timeout?: number;
}

/** Options of `refuteReceives`. */
export interface RefuteReceivesOptions {
  /** Milliseconds during which the frame must not arrive (default 100). Always waited in full. */
  within?: number;
}

/** How a communicator reads its frames (its camelCase decoding). */
export interface FrameReader {
  /** The inbox. */
  inbox: Inbox;
  /** Parses one raw frame into a message with its envelope keys. */
  decode: (raw: string) => ReceivedFrame;
  /** The path, for messages. */
  path: string;
}

function describe(expected: FrameExpectation): string {
  return typeof expected === "string" ? `action '${expected}'` : JSON.stringify(expected);
}

function matcher(expected: FrameExpectation): (frame: ReceivedFrame) => boolean {
  if (typeof expected === "string") return (f) => f.action === expected;
  return (f) =>
    f.action === expected.action &&
    isDeepStrictEqual(f.payload ?? null, expected.payload ?? null);
}

function failure(header: string, actual: unknown, expected: unknown): AssertionError {
  const error = new AssertionError({ actual, expected, operator: "deepStrictEqual" });
  error.message = `${header}\n${error.message}`;
  return error;
}

/**
 * Waits until a frame matching `expected` is queued, takes it (earlier non-matching frames stay
 * queued) and returns it. Fails with an `AssertionError` whose diff sets the expectation against
 * the frames that did arrive (still queued) when none matches within `timeout` or the connection
 * closes first.
 */
export async function assertReceives<M extends AnyMessage = AnyMessage>(
  reader: FrameReader,
  expected: FrameExpectation,
  options: AssertReceivesOptions = {},
  defaultTimeout = 5000,
): Promise<ReceivedFrame<M>> {
  const timeout = options.timeout ?? defaultTimeout;
  const matches = matcher(expected);
  let why: string;
  try {
    const raw = await reader.inbox.takeWhere(
      (t) => matches(reader.decode(t)),
      timeout,
      () => "",
    );
    return reader.decode(raw) as ReceivedFrame<M>;
  } catch (error) {
    if (error instanceof ReceiveTimeoutError) why = `within ${timeout} ms`;
    else if (error instanceof ConnectionClosedError) {
      why = `before the connection closed (code ${error.close.code})`;
    } else throw error;
  }
  const received = reader.inbox.snapshot().map(reader.decode);
  const header = `assertReceives(${reader.path}): no frame with ${describe(expected)} ${why}; ` +
    `${received.length} frame(s) received and not taken`;
  return typeof expected === "string"
    ? Promise.reject(
      failure(
        `${header}: ${JSON.stringify(received)}`,
        received.map((f) => f.action),
        [expected],
      ),
    )
    : Promise.reject(failure(header, received, [expected]));
}

/**
 * Fails if a frame matching `expected` is queued or arrives within `within` ms (default 100);
 * otherwise resolves after the window, taking nothing. The only assertion that always waits: a
 * frame's absence cannot be signalled, so keep `within` short and use it after a completion frame
 * has shown the server is done. It waits on the inbox's arrival events (no polling); a closed
 * connection ends the wait early, since nothing can arrive any more.
 */
export async function refuteReceives(
  reader: FrameReader,
  expected: FrameExpectation,
  options: RefuteReceivesOptions = {},
): Promise<void> {
  const within = options.within ?? 100;
  const matches = matcher(expected);
  let raw: string;
  try {
    raw = await reader.inbox.takeWhere((t) => matches(reader.decode(t)), within, () => "");
  } catch (error) {
    if (error instanceof ReceiveTimeoutError || error instanceof ConnectionClosedError) return;
    throw error;
  }
  const frame = reader.decode(raw);
  throw failure(
    `refuteReceives(${reader.path}): a frame with ${
      describe(expected)
    } arrived within ${within} ms`,
    frame,
    typeof expected === "string"
      ? `no frame with action '${expected}'`
      : `not ${describe(expected)}`,
  );
}
