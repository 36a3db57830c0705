/**
 * WebSocket upgrade on Deno (`Deno.upgradeWebSocket`). Node uses adapters/node.
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import type { ConnectionHandle, ServerSocket } from "./socket.ts";

interface DenoLike {
  upgradeWebSocket(request: Request, options?: { idleTimeout?: number }): {
    socket: WebSocket;
    response: Response;
  };
}

/**
 * The core's view of a Deno WebSocket. A class, not an object literal with a getter: V8 keeps
 * such literals in dictionary mode, and every connection holds one.
 */
class DenoSocket implements ServerSocket {
  constructor(readonly socket: WebSocket) {}
  send(data: string): void {
    this.socket.send(data);
  }
  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }
  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }
}

/** Upgrades `request` with Deno and wires the socket to a connection handle. */
export function upgradeWithDeno(
  request: Request,
  accept: (socket: ServerSocket) => ConnectionHandle,
  options: { idleTimeout?: number } = {},
): Response {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (!deno?.upgradeWebSocket) {
    return new Response(
      "app.fetch upgrades WebSockets on Deno only; on Node use serve() from adapters/node",
      { status: 501 },
    );
  }
  const { socket, response } = deno.upgradeWebSocket(request, options);
  const handle = accept(new DenoSocket(socket));
  socket.binaryType = "arraybuffer";
  socket.onopen = () => void handle.opened();
  socket.onmessage = (event) => {
    if (typeof event.data === "string") handle.text(event.data);
    else handle.binary(new Uint8Array(event.data as ArrayBuffer));
  };
  socket.onclose = (event) => void handle.closed(event.code, event.reason);
  socket.onerror = (event) => {
    getLogger().debug("WebSocket error", { message: (event as ErrorEvent).message });
  };
  return response;
}
