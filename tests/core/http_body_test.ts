/**
 * HTTP route bodies are bounded (issue 15 item 8): `maxBodyBytes` (default 1 MiB, per route
 * overridable) answers 413 before the handler runs, reading a body incrementally and stopping at
 * the limit, so an endless upload costs at most the limit.
 */
import { App, assert, DEFAULT_MAX_BODY_BYTES, serveForTests } from "./deps.ts";

const CHUNK = 64 * 1024;

/** A body of `chunks` × 64 KiB (Infinity: endless), counting how many chunks were pulled. */
function upload(chunks: number) {
  const counter = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (counter.pulled >= chunks) return controller.close();
      counter.pulled++;
      controller.enqueue(new Uint8Array(CHUNK).fill(0x61));
    },
    cancel() {
      counter.cancelled = true;
    },
  });
  return { stream, counter };
}

function echoApp(options: ConstructorParameters<typeof App>[0] = {}) {
  const seen: number[] = [];
  const app = new App(options)
    .post("/echo", async (request) => {
      const body = await request.arrayBuffer();
      seen.push(body.byteLength);
      return new Response(String(body.byteLength));
    })
    .post(
      "/big",
      async (request) => new Response(String((await request.arrayBuffer()).byteLength)),
      {
        maxBodyBytes: 4 * 1024 * 1024,
      },
    );
  return { app, seen };
}

const post = (app: App, path: string, body: BodyInit, headers: Record<string, string> = {}) =>
  app.handleHttp(new Request(`http://127.0.0.1${path}`, { method: "POST", body, headers }));

Deno.test("maxBodyBytes: 1 MiB by default; a body at the limit passes, one byte more is 413", async () => {
  assert.equal(DEFAULT_MAX_BODY_BYTES, 1024 * 1024);
  const { app, seen } = echoApp();
  let r = await post(app, "/echo", new Uint8Array(DEFAULT_MAX_BODY_BYTES));
  assert.equal(r.status, 200);
  assert.equal(await r.text(), String(DEFAULT_MAX_BODY_BYTES));
  r = await post(app, "/echo", new Uint8Array(DEFAULT_MAX_BODY_BYTES + 1));
  assert.equal(r.status, 413);
  assert.match(await r.text(), /larger than 1048576 bytes/);
  assert.deepEqual(seen, [DEFAULT_MAX_BODY_BYTES], "the handler never saw the big body");
});

Deno.test("maxBodyBytes: a streamed body is cut at the limit — an endless upload is answered 413", async () => {
  const { app, seen } = echoApp();
  const { stream, counter } = upload(Infinity);
  const r = await post(app, "/echo", stream);
  assert.equal(r.status, 413);
  await r.body?.cancel();
  assert.ok(
    counter.pulled <= DEFAULT_MAX_BODY_BYTES / CHUNK + 2,
    `pulled ${counter.pulled} chunks`,
  );
  assert.ok(counter.cancelled, "the rest of the body is not read");
  assert.deepEqual(seen, []);
});

Deno.test("maxBodyBytes: per route, per app, Content-Length checked before reading", async () => {
  const { app } = echoApp({ maxBodyBytes: 1000 });
  let r = await post(app, "/echo", new Uint8Array(1001));
  assert.equal(r.status, 413);
  await r.body?.cancel();
  r = await post(app, "/big", upload(48).stream); // 3 MiB under the route's 4 MiB
  assert.equal(await r.text(), String(48 * CHUNK));
  const { stream, counter } = upload(10);
  r = await post(app, "/echo", stream, { "content-length": String(10 * CHUNK) });
  assert.equal(r.status, 413);
  await r.body?.cancel();
  assert.equal(counter.pulled <= 1, true, "refused on the declared length");
  const open = new App({ maxBodyBytes: Infinity }).post(
    "/echo",
    async (request) => new Response(String((await request.arrayBuffer()).byteLength)),
  );
  r = await post(open, "/echo", upload(40).stream);
  assert.equal(await r.text(), String(40 * CHUNK));
});

Deno.test("maxBodyBytes over a real socket: a 32 MiB chunked upload gets 413", async () => {
  const { app, seen } = echoApp();
  await using server = await serveForTests(app);
  const { stream, counter } = upload(512);
  const r = await fetch(`${server.httpUrl}/echo`, { method: "POST", body: stream });
  assert.equal(r.status, 413);
  await r.body?.cancel();
  assert.ok(counter.pulled < 512, `the client sent ${counter.pulled} of 512 chunks`);
  assert.deepEqual(seen, []);
});
