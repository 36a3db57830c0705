/**
 * A deliberately minimal WebSocket client over raw TCP, for what a well-behaved client cannot do:
 * stay silent to pings, send invalid UTF-8, stop reading, write a whole burst of frames in one
 * TCP write and keep frame order around the close.
 */

/** A raw client connection. */
export interface RawWebSocket {
  /** The HTTP status line of the handshake answer. */
  readonly status: number;
  /** Sends one masked frame. */
  send(opcode: number, payload: Uint8Array): Promise<void>;
  /** Resolves when the server closes the TCP connection; with the close code if a close frame came. */
  readonly closed: Promise<{ closeCode: number | undefined; closeReason: string; pings: number }>;
  /** Writes bytes as they are (a hand-made frame header, a partial payload). */
  sendRaw(...parts: Uint8Array[]): Promise<void>;
  /** Closes the TCP connection. */
  close(): void;
  /** Starts reading, for a client opened with `read: false` (a reader that stalled, then woke). */
  resume(): void;
  /** The text frames received so far, in order. */
  readonly texts: string[];
}

/** One masked client frame (mask key 0) of `payload`, ready for {@linkcode RawWebSocket.sendRaw}. */
export function clientFrame(opcode: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const len = payload.length;
  const header = len < 126
    ? [0x80 | opcode, 0x80 | len]
    : [0x80 | opcode, 0x80 | 126, len >> 8, len & 255];
  if (len >= 65536) throw new RangeError("clientFrame: payloads up to 64 KiB");
  return concat(new Uint8Array(header), new Uint8Array(4), payload);
}

/**
 * Opens a raw WebSocket to `ws://127.0.0.1:port/path`. Does not answer pings (unless `pong`), nor
 * the server's close frame (unless `answerClose`: then it echoes the code, after every frame it
 * wrote before, as a well-behaved client does).
 */
export async function rawWebSocket(
  port: number,
  path: string,
  options: { pong?: boolean; read?: boolean; answerClose?: boolean } = {},
): Promise<RawWebSocket> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await conn.write(new TextEncoder().encode(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  // Read the handshake answer up to the blank line.
  let buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  let headerEnd = -1;
  while (headerEnd === -1) {
    const n = await conn.read(chunk);
    if (n === null) break;
    buffer = concat(buffer, chunk.subarray(0, n));
    headerEnd = new TextDecoder().decode(buffer).indexOf("\r\n\r\n");
  }
  const head = new TextDecoder().decode(buffer);
  const status = Number(head.split(" ")[1] ?? 0);
  let rest: Uint8Array<ArrayBuffer> = headerEnd === -1
    ? new Uint8Array(0)
    : buffer.slice(headerEnd + 4);
  let open = true;
  const texts: string[] = [];
  const utf8 = new TextDecoder();
  const { promise: resumed, resolve: resume } = Promise.withResolvers<void>();
  const send = async (opcode: number, payload: Uint8Array) => {
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const len = payload.length;
    const header = len < 126
      ? [0x80 | opcode, 0x80 | len]
      : len < 65536
      ? [0x80 | opcode, 0x80 | 126, len >> 8, len & 255]
      : [
        0x80 | opcode,
        0x80 | 127,
        0,
        0,
        0,
        0,
        (len >>> 24) & 255,
        (len >>> 16) & 255,
        (len >>> 8) & 255,
        len & 255,
      ];
    const masked = payload.map((b, i) => b ^ mask[i % 4]);
    await conn.write(concat(new Uint8Array(header), mask, masked));
  };
  const closed = (async () => {
    let closeCode: number | undefined;
    let closeReason = "";
    let pings = 0;
    if (options.read === false) {
      await resumed; // does not read until resume(); or the test closes the socket itself
    }
    try {
      while (true) {
        // Parse whole frames from `rest`.
        while (rest.length >= 2) {
          const opcode = rest[0] & 0x0f;
          let len = rest[1] & 0x7f;
          let offset = 2;
          if (len === 126) {
            if (rest.length < 4) break;
            len = (rest[2] << 8) | rest[3];
            offset = 4;
          } else if (len === 127) {
            if (rest.length < 10) break;
            len = Number(new DataView(rest.buffer, rest.byteOffset + 2, 8).getBigUint64(0));
            offset = 10;
          }
          if (rest.length < offset + len) break;
          const payload = rest.slice(offset, offset + len);
          rest = rest.slice(offset + len);
          if (opcode === 0x9) {
            pings++;
            if (options.pong) await send(0xa, payload);
          } else if (opcode === 0x1) {
            texts.push(utf8.decode(payload));
          } else if (opcode === 0x8 && payload.length >= 2) {
            closeCode = (payload[0] << 8) | payload[1];
            closeReason = utf8.decode(payload.subarray(2));
            if (options.answerClose) await send(0x8, payload.slice(0, 2));
          }
        }
        const n = await conn.read(chunk);
        if (n === null) break;
        rest = concat(rest, chunk.subarray(0, n));
      }
    } catch {
      // reset by peer: closed
    }
    if (open) {
      open = false;
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    return { closeCode, closeReason, pings };
  })();
  return {
    status,
    texts,
    send,
    closed,
    resume: () => resume(),
    sendRaw: async (...parts) => void await conn.write(concat(...parts)),
    close() {
      resume();
      if (!open) return;
      open = false;
      try {
        conn.close();
      } catch {
        // already closed
      }
    },
  };
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
