/**
 * The seam every runtime adapter implements (Deno in adapters/deno, Node `ws` in adapters/node,
 * the in-process test transport in testing/transport.ts, Bun next). The core never names a
 * runtime; an adapter is a thin translation:
 *
 * 1. `app.upgrade(request)` decides before any socket exists (origin, connection slot, route,
 *    `authenticate`) and answers an {@linkcode UpgradeDecision}: a refusal `Response` to send as
 *    is, or an accepted consumer.
 * 2. The adapter completes the handshake, wraps its socket in a {@linkcode ServerSocket} and calls
 *    `decision.accept(socket)`, which returns the connection's {@linkcode ConnectionHandle}; if no
 *    socket comes (the client left), it calls `decision.cancel()` to give the slot back.
 * 3. It forwards the socket's events: `handle.opened()`, then {@linkcode deliverFrame} per frame
 *    (`handle.text` / `handle.binary`), then `handle.closed(code, reason)` once.
 * 4. It keeps peers alive with the heartbeat of src/runtime/heartbeat.ts (or a native ping
 *    configured from the same policy).
 *
 * A runtime whose upgrade fits `fetch` (Deno) provides a {@linkcode RuntimeUpgrader}, which
 * `App.fetch` calls for step 2; without one `App.fetch` answers upgrades with 501.
 *
 * @module
 */
import type { Consumer } from "../consumer/consumer.ts";
import { getLogger } from "../logger.ts";
import type { ConnectionHandle, ServerSocket } from "./socket.ts";

// --- types ---

/** The answer of `App.upgrade`: a refusal, or an accepted consumer waiting for its socket. */
export type UpgradeDecision =
  | { accepted: false; response: Response }
  | {
    accepted: true;
    /** The consumer instance (authenticated, not yet connected). */
    consumer: Consumer;
    /** Attaches the socket; the adapter then calls `opened()`, `text()`, `closed()` on the handle. */
    accept(socket: ServerSocket): ConnectionHandle;
    /**
     * Gives up the connection slot reserved for this upgrade when no socket will come (the client
     * left during authentication). No effect after `accept`; calling it twice is harmless.
     */
    cancel(): void;
  };

/** What `App.fetch` hands a {@linkcode RuntimeUpgrader}. */
export interface RuntimeUpgradeOptions {
  /** The heartbeat period in seconds (0: none), from {@linkcode heartbeatSeconds}. */
  heartbeatSeconds: number;
}

/**
 * Completes an accepted upgrade inside `fetch`: upgrades `request`, calls `accept` with the
 * wrapped socket, wires its events to the returned handle and answers the runtime's 101 response.
 */
export type RuntimeUpgrader = (
  request: Request,
  accept: (socket: ServerSocket) => ConnectionHandle,
  options: RuntimeUpgradeOptions,
) => Response;

// --- helpers every runtime socket wrapper uses ---

/** The 501 of a `fetch` upgrade on a runtime without an upgrader. */
export function upgradeUnsupported(): Response {
  return new Response(
    "app.fetch upgrades WebSockets on Deno only; on Node use serve() from adapters/node",
    { status: 501 },
  );
}

/** Hands one received frame to the core: text as text, anything else as bytes. */
export function deliverFrame(handle: ConnectionHandle, data: string | Uint8Array): void {
  if (typeof data === "string") handle.text(data);
  else handle.binary(data);
}

/**
 * Closes with `code` and `reason`, or with 1011 when the runtime refuses them (an invalid code, a
 * reason over 123 bytes) or the close throws: a socket always ends up closing.
 */
export function closeOrFallback(
  close: (code?: number, reason?: string) => void,
  code?: number,
  reason?: string,
): void {
  try {
    close(code, reason);
  } catch (error) {
    getLogger().debug("The runtime refused the close code or reason", { error });
    close(1011);
  }
}
