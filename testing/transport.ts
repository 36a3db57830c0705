/**
 * How a communicator reaches the app: in-process (no port) or over a real WebSocket.
 *
 * @module
 */
import type { App } from "../src/app/app.ts";
import type { ConnectionHandle } from "../src/runtime/socket.ts";
import type { Consumer } from "../src/consumer/consumer.ts";
import type { Inbox } from "./inbox.ts";

/** The result of {@linkcode WebsocketCommunicator.connect}. */
export interface ConnectResult {
  /** True when the upgrade was accepted. */
  accepted: boolean;
  /** HTTP status of a refused upgrade (401, 403, 404…), 101 when accepted. */
  status: number;
  /** Body text of a refused upgrade (in-process transport only). */
  body?: string;
  /** The close code, when the server closed the socket during connect. */
  closeCode?: number;
}

/** The client side of one test connection. */
export interface ClientTransport {
  /** The server-side consumer instance (in-process transport only). */
  readonly consumer: Consumer | undefined;
  connect(): Promise<ConnectResult>;
  sendText(data: string): void;
  sendBytes(data: Uint8Array): void;
  close(code: number, reason?: string): Promise<void>;
  /** Kills the connection without a close frame (see `WebsocketCommunicator.drop`). */
  drop(): Promise<void>;
}

/** Drives the app in-process: the communicator is the socket. */
export function inProcessTransport(
  app: App,
  path: string,
  headers: HeadersInit | undefined,
  inbox: Inbox,
): ClientTransport {
  let handle: ConnectionHandle | undefined;
  let consumer: Consumer | undefined;
  let open = false;
  return {
    get consumer() {
      return consumer;
    },
    async connect() {
      const request = new Request(new URL(path, "http://localhost"), {
        headers: { upgrade: "websocket", ...Object.fromEntries(new Headers(headers)) },
      });
      const decision = await app.upgrade(request);
      if (!decision.accepted) {
        return {
          accepted: false,
          status: decision.response.status,
          body: await decision.response.text(),
        };
      }
      consumer = decision.consumer;
      handle = decision.accept({
        send(data) {
          if (open) inbox.push(data);
        },
        close(code = 1000, reason = "") {
          if (!open) return;
          open = false;
          inbox.closed({ code, reason });
          void handle!.closed(code, reason);
        },
        terminate() {
          // Dropped without a closing handshake, as a real socket reports it.
          if (!open) return;
          open = false;
          inbox.closed({ code: 1006, reason: "" });
          void handle!.closed(1006, "");
        },
        bufferedAmount: 0,
      });
      open = true;
      await handle.opened();
      const close = inbox.closeInfo;
      return { accepted: true, status: 101, ...(close ? { closeCode: close.code } : {}) };
    },
    sendText(data) {
      if (!handle) throw new Error("Not connected: call connect() first");
      if (open) handle.text(data); // like a real socket, sends after a close are dropped
    },
    sendBytes(data) {
      if (!handle) throw new Error("Not connected: call connect() first");
      if (open) handle.binary(data);
    },
    async close(code, reason = "") {
      if (!handle) return;
      if (open) {
        open = false;
        inbox.closed({ code, reason });
      }
      await handle.closed(code, reason);
    },
    async drop() {
      if (!handle) return;
      // What the server sees when a client's network dies: no close frame, code 1006.
      if (open) {
        open = false;
        inbox.closed({ code: 1006, reason: "" });
      }
      await handle.closed(1006, "");
    },
  };
}

/**
 * A WebSocket constructor: the global one by default; on Node 20 (no global WebSocket) pass the
 * `ws` package's `WebSocket`.
 */
// deno-lint-ignore no-explicit-any
export type WebSocketConstructor = new (url: string | URL, ...rest: any[]) => object;

/** Connects over a real WebSocket to `baseUrl` (e.g. `ws://127.0.0.1:8000`). */
export function socketTransport(
  baseUrl: string,
  path: string,
  headers: HeadersInit | undefined,
  inbox: Inbox,
  WebSocketClass?: WebSocketConstructor,
): ClientTransport {
  let ws: WebSocket | undefined;
  let closedPromise: Promise<void> | undefined;
  return {
    consumer: undefined,
    connect() {
      const url = new URL(path, baseUrl);
      // Deno's and ws's WebSocket accept headers; browsers ignore the second argument's headers.
      const Ctor = (WebSocketClass ?? globalThis.WebSocket) as unknown as new (
        url: URL,
        options?: unknown,
      ) => WebSocket;
      if (typeof Ctor !== "function") {
        throw new Error(
          "No global WebSocket (Node 20): pass the ws package's WebSocket as the `WebSocket` option",
        );
      }
      ws = headers
        ? new Ctor(url, { headers: Object.fromEntries(new Headers(headers)) })
        : new Ctor(url);
      ws.binaryType = "arraybuffer";
      const socket = ws;
      closedPromise = new Promise((resolve) => {
        socket.addEventListener("close", (e) => {
          inbox.closed({ code: e.code, reason: e.reason });
          resolve();
        });
      });
      socket.addEventListener("message", (e) => {
        if (typeof e.data === "string") inbox.push(e.data);
      });
      return new Promise<ConnectResult>((resolve) => {
        socket.addEventListener("open", () => resolve({ accepted: true, status: 101 }), {
          once: true,
        });
        socket.addEventListener("error", (e) => {
          const msg = (e as ErrorEvent).message ?? "";
          const status = Number(/\b([45]\d\d)\b/.exec(msg)?.[1] ?? 0);
          resolve({ accepted: false, status, body: msg });
        }, { once: true });
      });
    },
    sendText(data) {
      if (!ws) throw new Error("Not connected: call connect() first");
      ws.send(data);
    },
    sendBytes(data) {
      if (!ws) throw new Error("Not connected: call connect() first");
      ws.send(data);
    },
    async close(code, reason) {
      if (!ws) return;
      // 0 CONNECTING, 1 OPEN (no global WebSocket constants on Node 20).
      if (ws.readyState === 0 || ws.readyState === 1) {
        ws.close(code, reason);
      }
      await closedPromise;
    },
    async drop() {
      if (!ws) return;
      const terminate = (ws as unknown as { terminate?: () => void }).terminate;
      if (typeof terminate !== "function") {
        throw new TypeError(
          "drop() over a real socket needs a WebSocket that can destroy its TCP connection: pass " +
            "the ws package's WebSocket as the `WebSocket` option (its terminate() sends no close " +
            "frame); the global WebSocket can only close with a close frame",
        );
      }
      if (ws.readyState === 0 || ws.readyState === 1) terminate.call(ws);
      await closedPromise;
    },
  };
}
