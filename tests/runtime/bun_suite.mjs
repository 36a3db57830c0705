/**
 * The runtime suite (./suite.ts) on Bun: `Bun.serve` through adapters/bun, Bun's own WebSocket
 * client, and a raw node:net client for the heartbeat case. Bun runs it (it is not a Deno test):
 *
 *     bun --tsconfig-override=bun.tsconfig.json run tests/runtime/bun_suite.mjs [filter]
 *
 * tests/runtime/bun_test.ts runs it from `deno task test`. A small runner of its own, one case
 * after another (the suite's cases share the fixture's probe), each bounded by a timeout; prints
 * `ok` / `FAILED` / `ignored` per case and a summary line, exits 1 on any failure.
 */
import { connect } from "node:net";
import process from "node:process";
import { serve } from "@switchboard/switchboard/adapters/bun";
import { runtimeSuite } from "./suite.ts";

process.env.SEND_COMPLETION ||= "1";

/** A raw WebSocket that never answers pings: the handshake status, then pings seen until closed. */
function rawWebSocket(port, path) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    let buffer = Buffer.alloc(0);
    let status = 0;
    let pings = 0;
    let closeCode;
    let resolveClosed;
    const closed = new Promise((r) => (resolveClosed = r));
    socket.once("error", reject);
    socket.on("connect", () =>
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ));
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!status) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end === -1) return;
        status = Number(buffer.subarray(0, end).toString().split(" ")[1]);
        buffer = buffer.subarray(end + 4);
        resolve({ status, closed, close: () => socket.destroy() });
      }
      // Server frames are unmasked; the heartbeat only sends short control frames.
      while (buffer.length >= 2) {
        const opcode = buffer[0] & 0x0f;
        let len = buffer[1] & 0x7f;
        let offset = 2;
        if (len === 126) [len, offset] = [buffer.readUInt16BE(2), 4];
        else if (len === 127) [len, offset] = [Number(buffer.readBigUInt64BE(2)), 10];
        if (buffer.length < offset + len) break;
        if (opcode === 9) pings++;
        if (opcode === 8 && len >= 2) closeCode = buffer.readUInt16BE(offset);
        buffer = buffer.subarray(offset + len);
      }
    });
    socket.on("close", () => resolveClosed({ closeCode, pings }));
  });
}

const cases = [];
runtimeSuite("bun", {
  start: async (app) => {
    const s = await serve(app, { port: 0, closeTimeout: 1000 });
    return { url: s.url, httpUrl: s.httpUrl, close: () => s.close({ closeLayers: false }) };
  },
  capabilities: { pings: true },
  heartbeatAppOptions: { heartbeatSeconds: 0.2 }, // the adapter's heartbeat reads the app's
  register: (definition) => cases.push(definition),
  rawWebSocket,
});

const filter = process.argv[2];
const counts = { passed: 0, failed: 0, ignored: 0 };
const started = Date.now();
for (const c of cases) {
  if (filter && !c.name.includes(filter)) continue;
  if (c.ignore) {
    counts.ignored++;
    console.log(`${c.name} ... ignored`);
    continue;
  }
  const t0 = Date.now();
  let timer;
  try {
    await Promise.race([
      c.fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out after 30 s")), 30_000);
      }),
    ]);
    counts.passed++;
    console.log(`${c.name} ... ok (${Date.now() - t0}ms)`);
  } catch (error) {
    counts.failed++;
    console.log(`${c.name} ... FAILED (${Date.now() - t0}ms)\n${error?.stack ?? error}`);
  } finally {
    clearTimeout(timer);
  }
}
console.log(
  `bun ${Bun.version}: ${counts.passed} passed | ${counts.failed} failed | ${counts.ignored} ignored` +
    ` (${Date.now() - started}ms)`,
);
process.exit(counts.failed ? 1 : 0);
