/**
 * The origin check (issue 15 item 11): the same-origin rule compares scheme, host and port and
 * refuses named hosts (a DNS rebinding attack controls the Host header); configured origins are
 * compared in canonical form; `"same-origin"` combines with listed origins.
 */
import { App, assert, DefinitionError, serveForTests, WebsocketCommunicator } from "./deps.ts";
import { EchoConsumer, freshLayer } from "./fixtures.ts";

const upgradeHeaders = (extra: Record<string, string> = {}) => ({
  upgrade: "websocket",
  connection: "Upgrade",
  "sec-websocket-version": "13",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  ...extra,
});

/** One raw HTTP/1.1 upgrade request with the Host we choose (fetch forces the real one). */
async function rawUpgrade(port: number, host: string, origin: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = Object.entries(upgradeHeaders({ host, origin })).map(([k, v]) => `${k}: ${v}\r\n`);
  await conn.write(new TextEncoder().encode(`GET /echo HTTP/1.1\r\n${head.join("")}\r\n`));
  let answer = "";
  const buf = new Uint8Array(4096);
  while (!answer.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) break;
    answer += new TextDecoder().decode(buf.subarray(0, n));
  }
  conn.close();
  return answer;
}

const probe = (url: string, origin?: string) =>
  new Request(url, { headers: origin ? { origin } : {} });

Deno.test("same-origin: the scheme and port count, not only the host", () => {
  const app = new App();
  assert.equal(
    app.checkOrigin(probe("http://127.0.0.1:8080/ws", "http://127.0.0.1:8080")),
    undefined,
  );
  assert.equal(
    app.checkOrigin(probe("http://localhost:8080/ws", "http://localhost:8080")),
    undefined,
  );
  assert.equal(app.checkOrigin(probe("http://[::1]:8080/ws", "http://[::1]:8080")), undefined);
  assert.equal(app.checkOrigin(probe("http://127.0.0.1:8080/ws")), undefined, "no Origin: allowed");
  // Old code compared hosts only: an https page (or another port's) passed as same-origin.
  assert.match(
    app.checkOrigin(probe("http://127.0.0.1:8080/ws", "https://127.0.0.1:8080"))!,
    /not this server's origin http:\/\/127\.0\.0\.1:8080.*allowedOrigins/,
  );
  assert.match(
    app.checkOrigin(probe("http://127.0.0.1:8080/ws", "http://127.0.0.1:9090"))!,
    /not this server's origin/,
  );
  assert.match(app.checkOrigin(probe("http://127.0.0.1:8080/ws", "null"))!, /not an http/);
});

Deno.test("same-origin: a named host is refused (DNS rebinding), with the fix in the message", () => {
  const app = new App();
  const refusal = app.checkOrigin(probe("http://evil.example:8080/ws", "http://evil.example:8080"));
  assert.match(refusal!, /DNS rebinding.*allowedOrigins.*"http:\/\/evil\.example:8080"/);
  // localhost names never go to DNS
  assert.equal(
    app.checkOrigin(probe("http://app.localhost/ws", "http://app.localhost")),
    undefined,
  );
});

Deno.test("allowedOrigins list: canonical comparison, 'same-origin' as an entry, bad entries throw", () => {
  const app = new App({ allowedOrigins: ["https://App.Example.com:443", "http://localhost:5173"] });
  const req = (origin: string) => probe("http://10.0.0.5:8080/ws", origin);
  assert.equal(app.checkOrigin(req("https://app.example.com")), undefined);
  assert.equal(app.checkOrigin(req("http://localhost:5173")), undefined);
  assert.match(app.checkOrigin(req("http://app.example.com"))!, /not in allowedOrigins/);
  assert.match(app.checkOrigin(req("http://10.0.0.5:8080"))!, /not in allowedOrigins/);
  const wide = new App({ allowedOrigins: ["same-origin", "http://localhost:5173"] });
  assert.equal(wide.checkOrigin(req("http://10.0.0.5:8080")), undefined);
  assert.equal(wide.checkOrigin(req("http://localhost:5173")), undefined);
  assert.match(wide.checkOrigin(req("http://evil.example"))!, /listed: http:\/\/localhost:5173/);
  assert.throws(() => new App({ allowedOrigins: ["app.example.com"] }), DefinitionError);
  assert.throws(() => new App({ allowedOrigins: ["https://a.example/path"] }), DefinitionError);
  // A huge Origin is quoted, not echoed whole.
  const long = `http://${"a".repeat(100_000)}.example`;
  assert.ok(app.checkOrigin(req(long))!.length < 1000);
});

Deno.test("DNS rebinding over a real socket: Host and Origin both name the attacker's domain → 403", async () => {
  freshLayer();
  const app = new App().ws("/echo", EchoConsumer);
  await using server = await serveForTests(app);
  const rebound = `evil.example:${server.port}`;
  const refused = await rawUpgrade(server.port, rebound, `http://${rebound}`);
  assert.match(refused, /^HTTP\/1\.1 403/);
  const accepted = await fetch(`${server.httpUrl}/echo`, {
    headers: upgradeHeaders({ origin: server.httpUrl }),
  });
  assert.equal(accepted.status, 101);
  await accepted.body?.cancel();
  // A configured public origin is trusted whatever the Host says.
  const listed = new App({ allowedOrigins: [`http://${rebound}`] }).ws("/echo", EchoConsumer);
  const c = await new WebsocketCommunicator(listed, "/echo", {
    headers: { origin: `http://${rebound}` },
  }).connect();
  assert.equal(c.status, 101);
  await listed.close({ closeLayers: false });
});
