/**
 * The options and frame types of the {@linkcode WebsocketCommunicator} (re-exported by
 * `communicator.ts`), apart so the communicator's file holds only its behaviour.
 *
 * @module
 */
import type { ConsumerClass } from "../src/consumer/consumer.ts";
import type { WebSocketConstructor } from "./transport.ts";

/** Options of {@linkcode WebsocketCommunicator}. */
export interface CommunicatorOptions {
  /** The consumer class behind the path (used for its camelCase setting). */
  consumer?: ConsumerClass;
  /** Headers of the upgrade request (auth tokens, cookies, origin…). */
  headers?: HeadersInit;
  /** Connect over a real WebSocket to this base URL (`ws://127.0.0.1:8000`) instead of in-process. */
  url?: string;
  /**
   * The WebSocket class used with `url` (default: the global one). On Node 20, which has no global
   * WebSocket, pass `WebSocket` from the `ws` package.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * Keep the completion frames of topic frames (default `true`). `false` discards them on arrival
   * (a completion frame that carries a `topic`), so the client sees what a Chanx client sees:
   * topics send no completions. `subscribe`/`unsubscribe` then return without waiting for one.
   * See docs/from-chanx.md for why keeping them is the default.
   */
  topicCompletions?: boolean;
  /**
   * Chanx compatibility mode, for test suites ported from Chanx (default `false`): sets
   * `topicCompletions: false` and gives {@linkcode WebsocketCommunicator.receiveAllMessages}
   * Chanx's defaults, `onTimeout: "return"` and `timeout: 1000`. Explicit options still win.
   */
  chanx?: boolean;
}

/** Options of {@linkcode WebsocketCommunicator.receiveAllMessages}. */
export interface ReceiveAllOptions {
  /**
   * Stop once a frame with this action arrives (default `"complete"`). A stop frame that is not a
   * completion frame is returned too. A list: stop once every action in it has arrived, in any
   * order (e.g. `["complete", "group_complete"]` for a sender that also receives its own
   * broadcast, whose order against `complete` is not fixed). `null`: collect until `timeout`
   * without failing.
   */
  stopAction?: string | readonly string[] | null;
  /** Milliseconds to wait for the stop frame before failing (default 5000; 1000 under `chanx`). */
  timeout?: number;
  /**
   * What happens when `timeout` passes without the stop frame: `"throw"` (default) raises a
   * {@linkcode ReceiveTimeoutError} listing what arrived; `"return"` returns what arrived, as
   * Chanx's `receive_all_messages` does (the default under `chanx: true`). A connection that
   * closes before the stop frame throws either way.
   */
  onTimeout?: "throw" | "return";
}

/** A frame with its envelope keys, as topics send them. */
export interface TopicFrame {
  /** The action. */
  action: string;
  /** The payload. */
  payload: unknown;
  /** Envelope version. */
  version?: number;
  /** The topic. */
  topic?: string;
  /** The echoed request id. */
  ref?: string;
  /** The broadcast sequence number. */
  seq?: number;
}

/** The default wait for frames that must arrive, in ms. Generous: it only bounds a failure. */
export const DEFAULT_RECEIVE_TIMEOUT = 5000;
