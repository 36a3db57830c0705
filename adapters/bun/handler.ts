/**
 * The Bun adapter's handlers for one app: `fetch` (HTTP routes, and upgrades decided by
 * `app.upgrade` before any socket exists, then `server.upgrade`) and `websocket` (the steps of
 * src/runtime/seam.ts on Bun's events), with the shared heartbeat (src/runtime/heartbeat.ts) and
 * the native group fan-out (./fanout.ts).
 *
 * @module
 */
import type { App } from "../../src/app/app.ts";
import type { ConsumerClass } from "../../src/consumer/consumer.ts";
import { serverError, text } from "../../src/app/responses.ts";
import { installLocalFanout, localFanout } from "../../src/layers/local_fanout.ts";
import { getLogger } from "../../src/logger.ts";
import { Heartbeat, heartbeatSeconds } from "../../src/runtime/heartbeat.ts";
import { deliverFrame } from "../../src/runtime/seam.ts";
import type { BunServerLike, BunWebSocketHandler } from "./bun_types.ts";
import { BunFanout } from "./fanout.ts";
import { BunSocket, type BunSocketData, type BunSocketState, type SocketMode } from "./socket.ts";

/** Options of {@linkcode createBunHandler} (and of `serve`). */
export interface BunHandlerOptions {
  /**
   * The heartbeat period in seconds (fractions allowed): every period the server pings each client
   * and drops one that sent nothing (no frame, no pong) since the previous ping. Default: the
   * app's `heartbeatSeconds` (30), as on Deno and Node; `0` disables it.
   */
  heartbeatSeconds?: number;
  /**
   * How long {@linkcode BunHandler.close} waits for clients to finish the closing handshake
   * before it drops their sockets, in ms. Default 2000.
   */
  closeTimeout?: number;
  /**
   * Bun's `backpressureLimit`: bytes queued for one socket past which Bun drops what is sent to
   * it (the adapter then closes it with 1013). Default: 4 × the app's `maxBufferedBytes` plus the
   * largest frame, so the app's own slow-client policy always acts first.
   */
  backpressureLimit?: number;
  /**
   * Group fan-out to local members with Bun's `publish` where the result is the same as the
   * loop's (./fanout.ts). Default true; `false` keeps the loop for every member.
   */
  nativeFanout?: boolean;
}

/** The handlers of one app for `Bun.serve({ fetch, websocket })`. Made by {@linkcode createBunHandler}. */
export interface BunHandler {
  /** The app. */
  readonly app: App;
  /** `Bun.serve`'s `fetch`: HTTP routes, and WebSocket upgrades (`undefined` once upgraded). */
  fetch(request: Request, server: BunServerLike): Promise<Response | undefined>;
  /** `Bun.serve`'s `websocket`. */
  readonly websocket: BunWebSocketHandler<BunSocketState>;
  /** Number of open WebSockets. */
  readonly socketCount: number;
  /** The native fan-out's counters (`undefined` with `nativeFanout: false`). */
  readonly fanout: { readonly native: number; readonly declined: number } | undefined;
  /**
   * Closes the app (every socket with 1001, each `onDisconnect` awaited, then the layers unless
   * `closeLayers: false`), waits up to `closeTimeout` for the closing handshakes, then drops what
   * is left. The server keeps listening (refusing upgrades with 503 meanwhile).
   */
  close(options?: { closeLayers?: boolean }): Promise<void>;
}

/** The process's native fan-out: one for every Bun handler (topics are per server). */
function sharedFanout(): BunFanout {
  const installed = localFanout();
  if (installed instanceof BunFanout) return installed;
  const fanout = new BunFanout();
  installLocalFanout(fanout);
  return fanout;
}

/** The largest frame any route of `app` accepts (Bun's `maxPayloadLength`; the core checks each). */
export function largestFrame(app: App): number {
  let max = app.options.maxFrameBytes ?? 1024 * 1024;
  for (const route of app.routes) max = Math.max(max, route.consumer.maxFrameBytes ?? 0);
  return max;
}

/**
 * Makes the Bun handlers of `app`. `serve` uses it; call it yourself to mount the app in a
 * `Bun.serve` of your own (route other paths first, then hand over to `fetch`):
 *
 * ```js
 * const sb = createBunHandler(app);
 * Bun.serve({ port: 8080, fetch: (req, server) => sb.fetch(req, server), websocket: sb.websocket });
 * ```
 */
export function createBunHandler(app: App, options: BunHandlerOptions = {}): BunHandler {
  const heartbeat = new Heartbeat<BunSocket>(
    heartbeatSeconds(app.options, options.heartbeatSeconds),
    () => getLogger().debug("WebSocket heartbeat: no answer within a period, dropping the socket"),
  );
  const closeTimeout = options.closeTimeout ?? 2000;
  const fanout = options.nativeFanout === false ? undefined : sharedFanout();
  const maxBuffered = app.options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const sockets = new Set<BunSocket>();
  let closing = false;

  // One mode per class while its settings stay as they were (the fan-out checks a class once
  // per message, not once per member; and an idle socket holds no mode of its own).
  const modes = new WeakMap<ConsumerClass, SocketMode>();
  function modeOf(cls: ConsumerClass): SocketMode {
    const camelCase = Boolean(cls.camelCase);
    const completion = Boolean(cls.sendCompletion);
    const native = fanout !== undefined && !cls.logMessages;
    const known = modes.get(cls);
    if (
      known && known.camelCase === camelCase && known.completion === completion &&
      known.native === native
    ) {
      return known;
    }
    const mode = { cls, camelCase, completion, maxBufferedBytes: maxBuffered, native };
    modes.set(cls, mode);
    return mode;
  }

  const websocket: BunWebSocketHandler<BunSocketData> = {
    open(ws) {
      const data = ws.data;
      const decision = data.decision!;
      // Not kept with the socket: the decision holds its closures and what they hold.
      data.decision = undefined;
      if (closing) {
        decision.cancel();
        ws.close(1001, "Server shutting down");
        return;
      }
      const socket = new BunSocket(ws, data.server, data.mode, fanout);
      data.socket = socket;
      sockets.add(socket);
      heartbeat.add(socket);
      const handle = data.handle = decision.accept(socket);
      void handle.opened();
    },
    message(ws, message) {
      const { socket, handle } = ws.data;
      if (!socket || !handle) return;
      heartbeat.seen(socket);
      deliverFrame(
        handle,
        typeof message === "string"
          ? message
          : new Uint8Array(message.buffer, message.byteOffset, message.byteLength),
      );
    },
    close(ws, code, reason) {
      const { socket, handle } = ws.data;
      if (!socket || !handle) return;
      sockets.delete(socket);
      heartbeat.delete(socket);
      socket.closedByPeer();
      // Bun closes an oversized frame's socket with 1009 on the wire but reports 1006 here.
      if (code === 1006 && reason === "Received too big message") {
        getLogger().warn(`Frame over ${websocket.maxPayloadLength} bytes, closing with 1009`);
        void handle.closed(1009, "");
      } else {
        void handle.closed(code, reason);
      }
    },
    drain(ws) {
      // The slow-client policy reads the buffered bytes at each write; nothing waits for drain.
      if (ws.data.socket) heartbeat.seen(ws.data.socket);
    },
    ping(ws) {
      fanout?.wrote(125); // Bun answers with a pong of the ping's payload (≤ 125 bytes)
      if (ws.data.socket) heartbeat.seen(ws.data.socket);
    },
    pong(ws) {
      if (ws.data.socket) heartbeat.seen(ws.data.socket);
    },
    maxPayloadLength: largestFrame(app),
    backpressureLimit: options.backpressureLimit ?? 4 * maxBuffered + 2 * largestFrame(app),
    closeOnBackpressureLimit: false,
    idleTimeout: 0, // the shared heartbeat instead, one policy on every runtime
    sendPings: false,
    perMessageDeflate: false,
    publishToSelf: false,
  };

  async function upgrade(request: Request, server: BunServerLike): Promise<Response | undefined> {
    if (closing) return text(503, "Server is shutting down");
    const decision = await app.upgrade(request);
    if (!decision.accepted) return decision.response;
    const cls = decision.consumer.constructor as ConsumerClass;
    let upgraded = false;
    try {
      const data: BunSocketData = { decision, server, mode: modeOf(cls) };
      upgraded = server.upgrade(request, { data });
    } catch (error) {
      getLogger().debug("Bun could not upgrade (the client left?)", { error });
    }
    if (upgraded) return undefined;
    decision.cancel(); // no socket will come: give the connection slot back
    return text(400, "WebSocket upgrade failed");
  }

  return {
    app,
    websocket,
    get socketCount() {
      return sockets.size;
    },
    get fanout() {
      return fanout?.stats;
    },
    async fetch(request, server) {
      try {
        if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
          return await upgrade(request, server);
        }
        return await app.handleHttp(request);
      } catch (error) {
        return serverError(
          `${request.method} ${new URL(request.url).pathname} failed`,
          error,
          "Request failed with a server error",
        );
      }
    },
    async close(closeOptions = {}) {
      closing = true;
      try {
        await app.close(closeOptions);
        const deadline = Date.now() + closeTimeout;
        while (sockets.size && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 10));
        }
        for (const socket of sockets) socket.terminate();
        heartbeat.stop();
      } finally {
        closing = false;
      }
    },
  };
}
