/** Plain HTTP routes next to WebSocket routes. */
import { App, assert, Consumer } from "./deps.ts";

const app = new App()
  .ws("/ws/thing", Consumer)
  .get("/hello/:name", (_req, { params }) => new Response(`hello ${params.name}`))
  .post("/fail", () => {
    throw new Error("nope");
  });

Deno.test("HTTP routing: params, 404, 405, 426, handler errors as a plain 500", async () => {
  const get = (path: string, init?: RequestInit) => app.fetch(new Request(`http://x${path}`, init));
  let r = await get("/hello/w%C3%B6rld");
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "hello wörld");
  r = await get("/nowhere");
  assert.equal(r.status, 404);
  await r.body?.cancel();
  r = await get("/hello/x", { method: "DELETE" });
  assert.equal(r.status, 405);
  await r.body?.cancel();
  r = await get("/ws/thing");
  assert.equal(r.status, 426);
  await r.body?.cancel();
  r = await get("/fail", { method: "POST" });
  assert.equal(r.status, 500);
  // The handler's error is logged, never sent: its message is internal.
  assert.equal(await r.text(), "Internal server error");
});
