/**
 * The Node adapter's HTTP bridge: a Node request as a web `Request`, a web `Response` written to a
 * Node response (streamed, with backpressure), and a refused upgrade written to the raw socket.
 *
 * @module
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import type { Duplex } from "node:stream";
import { getLogger } from "../../src/logger.ts";

const BODYLESS = new Set(["GET", "HEAD"]);

/** The URL of a Node request (https when its socket is TLS). */
export function requestUrl(req: IncomingMessage): string {
  const encrypted = Boolean((req.socket as Socket & { encrypted?: boolean }).encrypted);
  return `${encrypted ? "https" : "http"}://${req.headers.host ?? "localhost"}${req.url ?? "/"}`;
}

/** The headers of a Node request (pseudo-headers and values fetch refuses left out). */
export function requestHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name.startsWith(":")) continue; // HTTP/2 pseudo-headers
    try {
      headers.append(name, raw[i + 1]);
    } catch {
      // A header value the fetch API refuses: leave it out rather than fail the request.
    }
  }
  return headers;
}

/** Builds a web `Request` from a Node request (the body streams for methods other than GET/HEAD). */
export function toRequest(req: IncomingMessage, signal?: AbortSignal): Request {
  const method = req.method ?? "GET";
  const init: RequestInit & { duplex?: "half" } = {
    method,
    headers: requestHeaders(req),
    signal,
  };
  if (!BODYLESS.has(method)) {
    init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
    init.duplex = "half";
  }
  return new Request(requestUrl(req), init);
}

/** Writes a web `Response` to a Node response, streaming the body with backpressure. */
export async function writeResponse(
  response: Response,
  res: ServerResponse,
  method = "GET",
): Promise<void> {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  const cookies = response.headers.getSetCookie();
  for (const [name, value] of response.headers) {
    if (name === "set-cookie") continue;
    res.setHeader(name, value);
  }
  if (cookies.length) res.setHeader("set-cookie", cookies);
  if (!response.body || method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) {
        await reader.cancel();
        return;
      }
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.on("drain", done);
          res.on("close", done);
        });
      }
    }
    res.end();
  } catch (error) {
    getLogger().warn("Writing an HTTP response failed", { error });
    res.destroy(error as Error);
  } finally {
    reader.releaseLock();
  }
}

/** Answers a refused upgrade on its raw socket with `response`, then ends the socket. */
export async function refuse(socket: Duplex, response: Response): Promise<void> {
  const body = new Uint8Array(await response.arrayBuffer());
  const status = response.status;
  const lines = [`HTTP/1.1 ${status} ${response.statusText || STATUS_CODES[status] || ""}`];
  for (const [name, value] of response.headers) {
    if (name === "content-length" || name === "connection" || name === "transfer-encoding") {
      continue;
    }
    if (name === "set-cookie") continue;
    lines.push(`${name}: ${value}`);
  }
  for (const cookie of response.headers.getSetCookie()) lines.push(`set-cookie: ${cookie}`);
  lines.push(`content-length: ${body.byteLength}`, "connection: close", "", "");
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(lines.join("\r\n"));
  socket.end(body);
}
