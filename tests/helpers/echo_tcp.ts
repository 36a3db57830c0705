/**
 * Test helpers for TCP-level tests (the fault proxy): an echo server on a free loopback port and a
 * client connection that resolves once connected.
 *
 * @module
 */
import { createConnection, createServer, type Socket } from "node:net";

/** An echo server on a free loopback port; `close()` destroys its sockets, then stops it. */
export async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.on("data", (d) => s.write(d));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A TCP connection to 127.0.0.1:`port`, resolved once connected. */
export function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: "127.0.0.1", port }, () => resolve(s));
    s.once("error", reject);
  });
}
