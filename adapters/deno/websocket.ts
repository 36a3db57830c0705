/**
 * The Deno runtime adapter's one file that names Deno: `Deno.upgradeWebSocket`, the socket
 * wrapper the core sees, and the wiring of its events to the connection handle (the steps of
 * src/runtime/seam.ts). The heartbeat is Deno's native ping (`idleTimeout`), set to the period of
 * src/runtime/heartbeat.ts's policy.
 *
 * @module
 */
import { getLogger } from "../../src/logger.ts";
import {
  deliverFrame,
  type RuntimeUpgradeOptions,
  upgradeUnsupported,
} from "../../src/runtime/seam.ts";
import type { ConnectionHandle, ServerSocket } from "../../src/runtime/socket.ts";

interface DenoLike {
  upgradeWebSocket(request: Request, options?: { idleTimeout?: number }): {
    socket: WebSocket;
    response: Response;
  };
}

/** Deno's private handle of a WebSocket's resource id (no public API closes it). */
function resourceId(socket: WebSocket): number | undefined {
  for (const key of Object.getOwnPropertySymbols(socket)) {
    if (key.description === "[[rid]]") {
      const rid = (socket as unknown as Record<symbol, unknown>)[key];
      return typeof rid === "number" ? rid : undefined;
    }
  }
  return undefined;
}

/** `Deno[Deno.internal].core.close`, when this Deno exposes it. */
function coreClose(): ((rid: number) => void) | undefined {
  const deno = (globalThis as { Deno?: Record<string | symbol, unknown> }).Deno;
  const internal = deno?.internal;
  const core = (typeof internal === "symbol" || typeof internal === "string")
    ? (deno?.[internal] as { core?: { close?: (rid: number) => void } } | undefined)?.core
    : undefined;
  return typeof core?.close === "function" ? core.close.bind(core) : undefined;
}

const EVENTS = ["open", "message", "close", "error"] as const;

/** A close polls Deno's send queue from every 5 ms, backing off to 100 ms, for at most 5 s. */
const FLUSH_POLL_MS = 5;
const FLUSH_POLL_MAX_MS = 100;
const FLUSH_MAX_MS = 5000;

/**
 * The core's view of a Deno WebSocket. A class, not an object literal with a getter: V8 keeps
 * such literals in dictionary mode, and every connection holds one.
 *
 * `close()` waits until the frames already sent have left Deno's send queue: Deno's close op
 * overtakes that queue and then drops it with the connection, so the client would see 1006 and
 * lose replies it was admitted. The wait is bounded (5 s, and the core's close grace period,
 * which ends in `terminate()`).
 */
class DenoSocket implements ServerSocket, EventListenerObject {
  #flush: ReturnType<typeof setTimeout> | undefined;
  /** The connection its events go to (set once accepted). */
  handle: ConnectionHandle | undefined;
  constructor(readonly socket: WebSocket) {}
  /**
   * The socket's four events, wired to the connection handle (the steps of src/runtime/seam.ts).
   * One listener object for all four: `onopen = …` closures would cost each connection four
   * closures and Deno's wrapper of each.
   */
  handleEvent(event: Event): void {
    const handle = this.handle!;
    switch (event.type) {
      case "message": {
        const data = (event as MessageEvent).data;
        deliverFrame(handle, typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
        return;
      }
      case "open":
        // Fired once: the listener's record is not kept for the life of the connection.
        this.socket.removeEventListener("open", this);
        return void handle.opened();
      case "close":
        return void handle.closed((event as CloseEvent).code, (event as CloseEvent).reason);
      case "error":
        getLogger().debug("WebSocket error", { message: (event as ErrorEvent).message });
    }
  }
  send(data: string): void {
    this.socket.send(data);
  }
  close(code?: number, reason?: string): void {
    this.#closeAfterFlush(code, reason, Date.now() + FLUSH_MAX_MS, FLUSH_POLL_MS);
  }
  #closeAfterFlush(
    code: number | undefined,
    reason: string | undefined,
    until: number,
    wait: number,
  ) {
    clearTimeout(this.#flush);
    // 1 = OPEN (no global WebSocket constants on every runtime).
    if (this.socket.readyState === 1 && this.socket.bufferedAmount > 0 && Date.now() < until) {
      this.#flush = setTimeout(() => {
        try {
          this.#closeAfterFlush(code, reason, until, Math.min(2 * wait, FLUSH_POLL_MAX_MS));
        } catch (error) {
          getLogger().warn("Closing the socket failed", { error });
          this.socket.close(1011);
        }
      }, wait);
      return;
    }
    this.socket.close(code, reason);
  }
  terminate(): void {
    clearTimeout(this.#flush);
    const rid = resourceId(this.socket);
    const close = coreClose();
    if (rid === undefined || !close) return; // the core releases its side regardless
    try {
      close(rid);
    } catch (error) {
      getLogger().debug("Could not drop a WebSocket resource", { error });
    }
  }
  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }
}

/**
 * Upgrades `request` with `Deno.upgradeWebSocket` and wires the socket to a connection handle:
 * Deno's `RuntimeUpgrader` (src/runtime/seam.ts). Answers 501 where there is no Deno (the npm build on
 * Node, whose adapters/node serves upgrades itself).
 */
export function upgradeWithDeno(
  request: Request,
  accept: (socket: ServerSocket) => ConnectionHandle,
  options: RuntimeUpgradeOptions,
): Response {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (!deno?.upgradeWebSocket) return upgradeUnsupported();
  const { socket, response } = deno.upgradeWebSocket(request, {
    idleTimeout: options.heartbeatSeconds,
  });
  const wrapper = new DenoSocket(socket);
  wrapper.handle = accept(wrapper);
  socket.binaryType = "arraybuffer";
  for (const type of EVENTS) socket.addEventListener(type, wrapper);
  return response;
}
