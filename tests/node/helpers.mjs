/**
 * Shared helpers of the Node suite. The suite imports the built package by name, as a user would:
 * `deno task test:node` installs the packed tarball into a scratch directory and runs it there.
 */
import process from "node:process";
import { serve } from "@switchboard/switchboard/adapters/node";
import { WebsocketCommunicator } from "@switchboard/switchboard/testing";
import { WebSocket } from "ws";

// Completion signals on, as the Deno test task does (the tutorial consumers read it).
process.env.SEND_COMPLETION ||= "1";

export { WebSocket };

/** The two ways a communicator reaches the app: over a real socket (ws) or in-process. */
export const TRANSPORTS = ["socket", "in-process"];

/**
 * Returns `connect(path, options)` for `transport`, and `close()`. The socket transport serves
 * `app` with the Node adapter on a free port and connects with the `ws` WebSocket.
 */
export async function harness(app, transport) {
  const server = transport === "socket" ? await serve(app, { port: 0 }) : undefined;
  const options = (extra = {}) => server ? { url: server.url, WebSocket, ...extra } : { ...extra };
  return {
    server,
    communicator: (path, extra) => new WebsocketCommunicator(app, path, options(extra)),
    connect: (path, extra) => WebsocketCommunicator.connect(app, path, options(extra)),
    async close() {
      if (server) await server.close({ closeLayers: false });
      else await app.close({ closeLayers: false });
    },
  };
}

/** Waits for `event` on a `ws` client; rejects on `error`. */
export function once(ws, event) {
  return new Promise((resolve, reject) => {
    const onError = (error) => {
      ws.off(event, onEvent);
      reject(error);
    };
    const onEvent = (...args) => {
      ws.off("error", onError);
      resolve(args);
    };
    ws.once(event, onEvent);
    if (event !== "error") ws.once("error", onError);
  });
}
