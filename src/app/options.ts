/**
 * The options of an `App` and their defaults (one place, so the app, its upgrade
 * decision and the runtime adapters read the same values).
 *
 * @module
 */
import type { OriginRule } from "./origin.ts";
import { DEFAULT_MAX_BODY_BYTES } from "./http_body.ts";
import { DEFAULT_HEARTBEAT_SECONDS } from "../runtime/heartbeat.ts";

/** Options of `App` (`new App(options)`). */
export interface AppOptions {
  /** Largest accepted text frame in bytes; bigger frames close the socket with 1009. Default 1 MiB. */
  maxFrameBytes?: number;
  /**
   * Which browser origins may open WebSockets (cross-site WebSocket hijacking and DNS rebinding
   * protection), checked before authentication; a refused origin gets 403 and a log line saying
   * why. Requests without an `Origin` header (non-browser clients) are always allowed.
   *
   * - `"same-origin"` (default): the Origin must equal the request's own origin — scheme, host and
   *   port — and the host must be an IP literal or `localhost`: a named host comes from the `Host`
   *   header, which a DNS rebinding attack controls, so a server reached by name needs its public
   *   origins listed.
   * - a list of origins (`["https://app.example.com"]`), compared in canonical form
   *   (`scheme://host[:port]`, lower case, default port dropped); `"same-origin"` may be one entry
   *   to keep the same-origin rule and add others. Behind a TLS-terminating proxy, list the public
   *   `https://` origin: the request the app sees is plain `http`.
   * - `"*"` allows every origin; a function decides itself.
   */
  allowedOrigins?: OriginRule;
  /**
   * Largest request body HTTP routes accept, in bytes (per route: `route(..., {maxBodyBytes})`).
   * Bodies are read incrementally and refused with 413 as soon as they pass it, so memory stays
   * bounded. Default 1 MiB; `Infinity` hands the body to the handler unread.
   */
  maxBodyBytes?: number;
  /**
   * Most open connections; further upgrades get 503. A slot is reserved before `authenticate`
   * runs (and released when it refuses or fails), so slow authentication cannot overshoot the cap.
   * Default: no limit.
   */
  maxConnections?: number;
  /**
   * Protocol-level heartbeat: the runtime pings every this many seconds and closes a connection
   * that does not answer in time (dead peers, half-open TCP). Default 30; 0 disables it.
   */
  heartbeatSeconds?: number;
  /** Close a connection that sent no frame for this many ms (code 1001). Default 0: never. */
  idleTimeoutMs?: number;
  /** Bytes queued for one client before it counts as slow. Default 4 MiB. */
  maxBufferedBytes?: number;
  /**
   * What to do with a slow client: `"close"` (default) closes it with 1013; `"drop"` drops frames
   * of droppable message types (`message(..., {droppable: true})`) and still closes at 4× the limit.
   * Either way a group fan-out never waits for its slowest member.
   */
  slowClientPolicy?: "close" | "drop";
  /**
   * Per-connection limit on incoming frames (token bucket). An over-limit frame gets an error frame
   * (`rate_limited`) and is not handled; `maxViolations` refusals within 10 s close the connection
   * with 1008. Default: off.
   */
  rateLimit?: { perSecond: number; burst?: number; maxViolations?: number };
  /**
   * How long a closing connection may take to finish the closing handshake, in ms; past it the
   * socket is dropped and `onDisconnect` runs with 1006 (a client that stopped reading never
   * answers). Default 5000; 0 waits for the runtime.
   */
  closeTimeoutMs?: number;
  /**
   * Most topic subscriptions one connection may hold; one more gets an error frame with reason
   * `too_many_subscriptions`. Default 100.
   */
  maxSubscriptions?: number;
  /**
   * Most client frames waiting to be handled on one connection (while a handler or the layer is
   * slow); further frames get a `too_many_pending` error frame until the queue drains. Default 1000.
   */
  maxPendingFrames?: number;
  /**
   * Most frame text waiting to be handled on one connection, in UTF-16 code units (bytes for ASCII
   * text); beyond it, as `maxPendingFrames`. Default 4 MiB.
   */
  maxPendingBytes?: number;
  /** Title used by documentation generators. */
  title?: string;
  /** Version used by documentation generators. */
  version?: string;
  /** Description used by documentation generators. */
  description?: string;
}

/** `options` over the defaults. */
export function withDefaults(options: AppOptions): Readonly<AppOptions> {
  return {
    maxFrameBytes: 1024 * 1024,
    allowedOrigins: "same-origin",
    heartbeatSeconds: DEFAULT_HEARTBEAT_SECONDS,
    idleTimeoutMs: 0,
    maxBufferedBytes: 4 * 1024 * 1024,
    slowClientPolicy: "close",
    closeTimeoutMs: 5000,
    maxSubscriptions: 100,
    maxPendingFrames: 1000,
    maxPendingBytes: 4 * 1024 * 1024,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    ...options,
  };
}
