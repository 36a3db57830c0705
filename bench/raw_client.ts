/**
 * A WebSocket client for the load generator's fan-out receivers that reads frames off a plain TCP
 * connection (`Deno.connect`) instead of Deno's `WebSocket`: no event object, no string per frame.
 *
 * Why: with 1,000 `WebSocket` receivers the load generator saturated its own core at ~130–190 k
 * frames/s while raw Bun's `publish` used 0.6 of a core, so the fan-out rows measured the load
 * generator, not the servers. A frame here costs a header read and a backwards scan for `"n":`.
 *
 * It speaks just enough RFC 6455 for a benchmark against servers we run ourselves: the upgrade
 * request (the 101 is taken as given, not checked), unmasked server frames (text, ping → pong,
 * close), and masked client text frames (a zero masking key, which RFC 6455 allows). Fragmented
 * messages are not reassembled (no server here fragments a 60-byte frame).
 *
 * @module
 */

const encoder = new TextEncoder();

/** The `n` field of a frame's JSON (`"n":123`), found from the end; NaN when there is none. */
export function nOfBytes(buf: Uint8Array, start: number, end: number): number {
  for (let i = end - 4; i >= start; i--) {
    if (
      buf[i] === 0x22 && buf[i + 1] === 0x6e && buf[i + 2] === 0x22 && buf[i + 3] === 0x3a
    ) {
      let j = i + 4;
      let sign = 1;
      if (buf[j] === 0x2d) {
        sign = -1;
        j++;
      }
      let v = 0;
      let digits = 0;
      for (; j < end && buf[j] >= 0x30 && buf[j] <= 0x39; j++, digits++) {
        v = v * 10 + (buf[j] - 0x30);
      }
      return digits ? sign * v : NaN;
    }
  }
  return NaN;
}

/** Encodes a masked client text frame (zero masking key) carrying `text`. */
export function clientFrame(text: string): Uint8Array {
  const payload = encoder.encode(text);
  const len = payload.length;
  const head = len < 126 ? 6 : len < 65536 ? 8 : 14;
  const out = new Uint8Array(head + len);
  out[0] = 0x81;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out[2] = len >> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
  }
  // bytes head-4 … head-1: the masking key, all zero, so the payload goes as it is
  out.set(payload, head);
  return out;
}

/** One raw receiver connection. */
export interface RawSocket {
  /** Sends one text frame. */
  send(text: string): void;
  /** Closes the TCP connection. */
  close(): void;
}

/**
 * Connects to `url` and calls `onText(buf, start, end)` for each text frame's payload (the bytes
 * are valid only during the call). `onOpen` runs once the upgrade response has been read.
 */
export function rawConnect(
  url: string,
  onText: (socket: RawSocket, buf: Uint8Array, start: number, end: number) => void,
  onOpen: (socket: RawSocket) => void,
  onError: (error: Error) => void,
): void {
  const u = new URL(url);
  let conn: Deno.TcpConn | undefined;
  let closed = false;
  let writing = Promise.resolve();
  const write = (bytes: Uint8Array) => {
    writing = writing.then(async () => {
      let off = 0;
      while (!closed && off < bytes.length) off += await conn!.write(bytes.subarray(off));
    }).catch(() => {});
  };
  const socket: RawSocket = {
    send: (text) => write(clientFrame(text)),
    close() {
      if (closed) return;
      closed = true;
      try {
        conn?.close();
      } catch { /* closed */ }
    },
  };
  (async () => {
    conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    conn.setNoDelay(true);
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    write(encoder.encode(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    let buf = new Uint8Array(16384);
    let len = 0;
    let upgraded = false;
    while (!closed) {
      if (len === buf.length) {
        const grown = new Uint8Array(buf.length * 2);
        grown.set(buf);
        buf = grown;
      }
      const r = await conn.read(buf.subarray(len));
      if (r === null) break;
      len += r;
      let off = 0;
      if (!upgraded) {
        let i = 0;
        while (
          i + 3 < len &&
          !(buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10)
        ) i++;
        if (i + 3 >= len) continue;
        upgraded = true;
        off = i + 4;
        onOpen(socket);
      }
      while (len - off >= 2) {
        const op = buf[off] & 0x0f;
        const b1 = buf[off + 1] & 0x7f;
        let head = 2;
        let size = b1;
        if (b1 === 126) {
          if (len - off < 4) break;
          size = (buf[off + 2] << 8) | buf[off + 3];
          head = 4;
        } else if (b1 === 127) {
          if (len - off < 10) break;
          size = Number(new DataView(buf.buffer, off + 2, 8).getBigUint64(0));
          head = 10;
        }
        if (len - off < head + size) break;
        const start = off + head;
        const end = start + size;
        if (op === 1) onText(socket, buf, start, end);
        else if (op === 9) {
          const pong = new Uint8Array(6 + size);
          pong[0] = 0x8a;
          pong[1] = 0x80 | size;
          pong.set(buf.subarray(start, end), 6);
          write(pong);
        } else if (op === 8) {
          socket.close();
          return;
        }
        off = end;
      }
      if (off > 0) {
        buf.copyWithin(0, off, len);
        len -= off;
      }
    }
    socket.close();
  })().catch((e) => {
    if (!closed) onError(e instanceof Error ? e : new Error(String(e)));
  });
}
