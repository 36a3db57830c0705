/**
 * Bounded request bodies for HTTP routes: a body is read chunk by chunk and refused as soon as it
 * passes the limit, so memory stays bounded by the limit, not by what a client sends.
 *
 * @module
 */

/** Default `maxBodyBytes` of HTTP routes: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES: number = 1024 * 1024;

/** The outcome of {@linkcode limitBody}. */
export type LimitedBody =
  | { ok: true; request: Request }
  | { ok: false; response: Response };

function tooLarge(max: number): Response {
  return new Response(`Request body larger than ${max} bytes`, {
    status: 413,
    headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
  });
}

/**
 * Reads `request`'s body up to `max` bytes: an over-long `Content-Length` is refused before
 * reading, a chunked body as soon as it passes `max` (413; the rest is not read). On success the
 * returned request carries the bytes read; `Infinity` passes the request through untouched.
 */
export async function limitBody(request: Request, max: number): Promise<LimitedBody> {
  if (request.body === null || max === Infinity) return { ok: true, request };
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > max) {
    await request.body.cancel().catch(() => {});
    return { ok: false, response: tooLarge(max) };
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      return {
        ok: false,
        response: new Response("Request body could not be read", { status: 400 }),
      };
    }
    const { done, value } = next;
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return { ok: false, response: tooLarge(max) };
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return {
    ok: true,
    request: new Request(request.url, {
      method: request.method,
      headers: request.headers,
      body,
    }),
  };
}
