/** Serving a test app on a chosen port, so a test can stop it and start another on the same port. */
import type { App } from "../../mod.ts";

/** A running server. */
export interface Served {
  readonly port: number;
  /** `ws://127.0.0.1:<port>`. */
  readonly url: string;
  /** Closes the app's sockets (1001), then the listener. */
  close(): Promise<void>;
}

/** Serves `app` on 127.0.0.1 (`port` 0: a free one). */
export function serveOn(app: App, port = 0): Promise<Served> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      onListen: ({ port }) =>
        resolve({
          port,
          url: `ws://127.0.0.1:${port}`,
          close: async () => {
            await app.close({ closeLayers: false });
            await server.shutdown();
          },
        }),
    }, app.fetch);
  });
}

/** Resolves with the first value `subscribe` reports that satisfies `accept`. */
export function next<T>(
  subscribe: (handler: (value: T) => void) => () => void,
  accept: (value: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const off = subscribe((value) => {
      if (!accept(value)) return;
      off();
      resolve(value);
    });
  });
}
