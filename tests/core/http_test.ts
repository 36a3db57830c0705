/** Plain HTTP routes next to WebSocket routes. */
import { App, assert, Consumer, memoryLogger, setLogger } from "./deps.ts";

const app = new App()
  .ws("/ws/thing", Consumer)
  .get("/hello/:name", (_req, { params }) => new Response(`hello ${params.name}`))
  .post("/fail", () => {
    throw new Error("nope");
  });

Deno.test("HTTP routing: params, 404, 405, 426", async () => {
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
});

Deno.test("a throwing HTTP handler: a generic 500 with an id, the exception only in the log", async () => {
  const logger = memoryLogger();
  const previous = setLogger(logger);
  let r: Response;
  try {
    r = await app.fetch(new Request("http://x/fail", { method: "POST" }));
  } finally {
    setLogger(previous);
  }
  assert.equal(r.status, 500);
  const body = await r.text();
  // Before: "Internal server error: nope"
  assert.doesNotMatch(body, /nope/);
  const id = /^Internal server error \(error id ([0-9a-f-]{36})\)$/.exec(body)?.[1];
  assert.ok(id, body);
  assert.equal(r.headers.get("x-error-id"), id);
  const [line] = logger.lines.filter((l) => l.level === "error");
  assert.equal(line.message, "HTTP handler for POST /fail failed");
  assert.equal(line.fields?.errorId, id);
  assert.equal((line.fields?.error as Error).message, "nope");
});

Deno.test("HTTP params: decoded, and reading a name the route lacks is a 500, not undefined", async () => {
  const strict = new App().get("/u/:id", (_req, { params }) => {
    // deno-lint-ignore no-explicit-any
    return new Response(`${params.id} ${(params as any).name}`);
  });
  const logger = memoryLogger();
  const previous = setLogger(logger);
  let r: Response;
  try {
    r = await strict.fetch(new Request("http://x/u/7"));
  } finally {
    setLogger(previous);
  }
  // Before: 200 "7 undefined"
  assert.equal(r.status, 500);
  await r.body?.cancel();
  assert.equal(
    (logger.lines[0].fields?.error as Error).message,
    `No path parameter 'name' on this route (got ["id"])`,
  );
});
