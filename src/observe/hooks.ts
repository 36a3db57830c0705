/**
 * The seams the core reports through when a user opts in to observing it: a
 * {@linkcode ConnectionObserver} per app (metrics, the inspector), a {@linkcode JobObserver} per
 * worker, and one process-wide {@linkcode FrameTracer} (tracing). Without them the core calls
 * nothing: every call site is `observer?.x(...)` or a check of `activeTracer()`.
 *
 * This module imports nothing: the connection, the dispatcher and the worker depend on it, and
 * what implements it (`server_metrics.ts`, `adapters/otel`) depends on them.
 *
 * @module
 */

/** What an observer may read of a live connection (the inspector's list). */
export interface ObservedConnection {
  /** The consumer class (its name labels the connection). */
  readonly cls: { readonly name: string };
  /** The consumer (its `groups`: the groups this connection is in). */
  readonly consumer: { readonly groups: readonly string[] };
  /** The layer channel name ("" without a layer). */
  readonly channelName: string;
  /** The topics it is subscribed to. */
  readonly subscriptions: readonly string[];
  /** Bytes the runtime has queued for the socket and not sent yet. */
  readonly bufferedBytes: number;
}

/** What the connections of an app report (see `ServerMetrics`). Called on the hot path. */
export interface ConnectionObserver {
  /** A connection opened. */
  opened(connection: ObservedConnection): void;
  /** A connection closed with `code` (its `onDisconnect` ran). */
  closed(connection: ObservedConnection, code: number): void;
  /** A client frame reached the dispatcher: `action` is its handler's, undefined when unknown. */
  received(action: string | undefined): void;
  /**
   * A client frame with a handler is about to be handled: its start time (`performance.now()`)
   * when it is to be timed, or 0 to leave it untimed (reading the clock costs more than the rest
   * of the metrics together, so an observer may time one frame in N).
   */
  startTiming(): number;
  /** A handler of `action`, timed from `started` (a nonzero `startTiming()`), replied. */
  handled(action: string, started: number): void;
  /** A frame of `action` went to a socket, `length` UTF-16 code units of text. */
  sent(
    frame: { readonly action: string; readonly payload?: unknown },
    length: number,
  ): void;
  /** A droppable frame was dropped for a slow client. */
  dropped(): void;
  /** A slow client was closed. */
  slowClosed(): void;
  /** A connection published a broadcast to `groups` groups. */
  published(groups: number): void;
  /** A layer message of `type` reached a connection; `sentAt`: its publish time (epoch ms), if stamped. */
  layerReceived(type: string, sentAt: unknown): void;
  /** The layer told a connection to resync (`onResync` ran). */
  resynced(): void;
  /**
   * For the features that report on their own (a connection reaches it as
   * `settings.observer?.recovery?.(…)`): one recovery attempt after a reconnect or resync, with
   * its outcome (`"recovered"`, `"partial"`, `"resync"`, `"failed"`…, a small fixed set).
   */
  recovery?(outcome: string): void;
  /** The presence sizes of this process: groups with presence tracked, members in them. */
  presence?(groups: number, members: number): void;
}

/** What a worker reports (see `ServerMetrics.jobs`). */
export interface JobObserver {
  /** A try of the job function `name` ended with `outcome` after `seconds`. */
  finished(
    name: string,
    outcome: "completed" | "failed" | "retried",
    seconds: number,
  ): void;
}

/** Span attributes. */
export type SpanAttributes = Record<string, string | number | boolean>;

/**
 * Opens spans around what the core handles (a client frame, a layer message). Implemented by
 * `adapters/otel`; installed with {@linkcode setFrameTracer}.
 */
export interface FrameTracer {
  /**
   * Runs `run` inside a span called `name`, as a child of the active span, or of `parent` (a W3C
   * `traceparent` a layer message carried) when given. Resolves or rejects as `run` does.
   */
  span<T>(
    name: string,
    attributes: SpanAttributes,
    parent: string | undefined,
    run: () => Promise<T>,
  ): Promise<T>;
}

let tracer: FrameTracer | undefined;

/** Installs the process's frame tracer (`undefined` removes it). */
export function setFrameTracer(next: FrameTracer | undefined): void {
  tracer = next;
}

/** The process's frame tracer, if one is installed. */
export function activeTracer(): FrameTracer | undefined {
  return tracer;
}
