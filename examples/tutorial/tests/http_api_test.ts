/**
 * Tutorial part 4: the HTTP endpoints that push to sockets (`POST /api/announce`,
 * `POST /api/send/:name`), in-process and over a real server.
 */
import "./test_env.ts";
// The sender functions behind /api/send pause between sends; not in tests.
Deno.env.set("SENDER_DELAY_SCALE", "0");
import assert from "node:assert/strict";
import { App } from "../../../mod.ts";
import { serveForTests } from "../../../testing/mod.ts";
import { app, createApp } from "../app.ts";
import { ANALYTICS_EVENTS } from "../external_sender.ts";
import { API_MAX_BODY_BYTES, mountShowcaseApi } from "../http_api.ts";
import { apiToken } from "../settings.ts";
import { AnalyticsNotificationMessage } from "../showcase/messages.ts";
import { chatNotice, connectShowcase, notice } from "./showcase_helpers.ts";

function post(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return app.handleHttp(
    new Request(`http://localhost${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${apiToken().token}`,
        ...init.headers,
      },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}

Deno.test("POST /api/announce reaches every showcase consumer", async () => {
  await using showcase = await connectShowcase();
  const response = await post("/api/announce", { message: "📣 Release 2.0 is out" });
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), {
    event: "system_notify",
    targets: ["chat", "reliable", "notifications", "analytics"],
  });
  assert.deepEqual(await showcase.received(), {
    chat: [chatNotice("📣 Release 2.0 is out")],
    reliable: [chatNotice("📣 Release 2.0 is out")],
    notifications: [notice("system", "📣 Release 2.0 is out")],
    analytics: [
      AnalyticsNotificationMessage.create({ event: "📣 Release 2.0 is out", data: null }),
    ],
  });
});

Deno.test("POST /api/announce with a target reaches only that consumer", async () => {
  await using showcase = await connectShowcase();
  const response = await post("/api/announce", { message: "only you", target: "reliable" });
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), { event: "system_notify", targets: ["reliable"] });
  assert.deepEqual(await showcase.received(), {
    chat: [],
    reliable: [chatNotice("only you")],
    notifications: [],
    analytics: [],
  });
});

Deno.test("POST /api/announce with periodic sends system_periodic_notify to notifications", async () => {
  await using showcase = await connectShowcase();
  const response = await post("/api/announce", { message: "status: green", periodic: true });
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), {
    event: "system_periodic_notify",
    targets: ["notifications"],
  });
  assert.deepEqual(await showcase.received(), {
    chat: [],
    reliable: [],
    notifications: [notice("periodic", "status: green")],
    analytics: [],
  });
});

Deno.test("POST /api/announce refuses bad requests with 400 and sends nothing", async (t) => {
  await using showcase = await connectShowcase();
  const cases: [string, unknown, string][] = [
    ["not JSON", "{nope", "The body must be JSON"],
    ["no message", { target: "chat" }, "Invalid announcement"],
    ["empty message", { message: "" }, "Invalid announcement"],
    ["unknown target", { message: "x", target: "everyone" }, "Invalid announcement"],
    ["unknown key", { message: "x", groups: ["admins"] }, "Invalid announcement"],
    ["periodic to chat", { message: "x", target: "chat", periodic: true }, "Invalid announcement"],
    ["not an object", ["x"], "Invalid announcement"],
  ];
  for (const [name, body, error] of cases) {
    await t.step(name, async () => {
      const response = await post("/api/announce", body);
      assert.equal(response.status, 400);
      const json = await response.json();
      assert.equal(json.error, error);
      if (error === "Invalid announcement") assert.ok(json.issues.length > 0);
    });
  }
  assert.deepEqual(await showcase.received(), {
    chat: [],
    reliable: [],
    notifications: [],
    analytics: [],
  });
});

Deno.test("GET /api/announce is 405", async () => {
  const response = await app.handleHttp(new Request("http://localhost/api/announce"));
  assert.equal(response.status, 405);
  await response.body?.cancel();
});

Deno.test("POST /api/send/:name runs the external sender's function", async (t) => {
  await using showcase = await connectShowcase();
  await t.step("notification", async () => {
    const response = await post("/api/send/notification", null);
    assert.equal(response.status, 202);
    assert.deepEqual(await response.json(), { sent: "notification" });
    assert.deepEqual(await showcase.received(), {
      chat: [],
      reliable: [],
      notifications: [notice("system", "🚨 Alert: High CPU usage detected on server")],
      analytics: [],
    });
  });
  await t.step("analytics", async () => {
    const response = await post("/api/send/analytics", null);
    assert.equal(response.status, 202);
    await response.body?.cancel();
    const received = await showcase.received();
    assert.deepEqual(
      received.analytics,
      ANALYTICS_EVENTS.map((event) => AnalyticsNotificationMessage.create({ event, data: null })),
    );
    assert.deepEqual([received.chat, received.reliable, received.notifications], [[], [], []]);
  });
  await t.step("unknown name is 404", async () => {
    for (const name of ["nope", "constructor", "__proto__"]) {
      const response = await post(`/api/send/${name}`, null);
      assert.equal(response.status, 404, name);
      assert.match((await response.json()).error, /^Unknown sender/);
    }
  });
});

Deno.test("with a token, the endpoints need Authorization: Bearer <token>", async () => {
  const secured = mountShowcaseApi(new App(), { token: "s3cret-token" });
  const send = (path: string, authorization?: string) =>
    secured.handleHttp(
      new Request(`http://localhost${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify({ message: "hi", target: "analytics" }),
      }),
    );
  for (
    const auth of [undefined, "Bearer wrong", "Bearer s3cret-toke", "s3cret-token", "Basic s3cret"]
  ) {
    for (const path of ["/api/announce", "/api/send/chat"]) {
      const response = await send(path, auth);
      assert.equal(response.status, 401, `${path} with ${auth}`);
      assert.equal(response.headers.get("www-authenticate"), "Bearer");
      await response.body?.cancel();
    }
  }
  await using showcase = await connectShowcase();
  const response = await send("/api/announce", "Bearer s3cret-token");
  assert.equal(response.status, 202);
  await response.body?.cancel();
  assert.deepEqual((await showcase.received()).analytics, [
    AnalyticsNotificationMessage.create({ event: "hi", data: null }),
  ]);
});

Deno.test("over a real server: fetch POST /api/announce, frames arrive on real sockets", async () => {
  await using server = await serveForTests(createApp());
  await using showcase = await connectShowcase({ url: server.url });
  const response = await fetch(`${server.httpUrl}/api/announce`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${apiToken().token}` },
    body: JSON.stringify({ message: "from a web backend", target: "chat" }),
  });
  assert.equal(response.status, 202);
  await response.body?.cancel();
  assert.deepEqual((await showcase.received()).chat, [chatNotice("from a web backend")]);
});

Deno.test("the app's API needs its token: a cross-site text/plain POST (CSRF) is 401 and reaches nobody", async () => {
  assert.throws(() => mountShowcaseApi(new App(), {} as { token: string }), /token/);
  await using server = await serveForTests(createApp());
  await using showcase = await connectShowcase({ url: server.url });
  // What <form enctype="text/plain"> or fetch(…, {mode: "no-cors"}) from another site sends.
  for (const path of ["/api/announce", "/api/send/chat"]) {
    const response = await fetch(`${server.httpUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "text/plain", origin: "https://evil.example" },
      body: JSON.stringify({ message: "pwned" }),
    });
    assert.equal(response.status, 401, path);
    await response.body?.cancel();
  }
  assert.deepEqual(await showcase.received(), {
    chat: [],
    reliable: [],
    notifications: [],
    analytics: [],
  });
});

Deno.test("the API refuses non-JSON bodies with 415, even with the token", async () => {
  await using showcase = await connectShowcase();
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]) {
    const response = await post("/api/announce", JSON.stringify({ message: "x" }), {
      headers: { "content-type": type },
    });
    assert.equal(response.status, 415, type);
    assert.match((await response.json()).error, /application\/json/);
  }
  let response = await post("/api/send/chat", "x", { headers: { "content-type": "text/plain" } });
  assert.equal(response.status, 415);
  await response.body?.cancel();
  response = await post("/api/announce", { message: "ok" }, {
    headers: { "content-type": "application/json; charset=utf-8" },
  });
  assert.equal(response.status, 202);
  await response.body?.cancel();
  assert.equal((await showcase.received()).chat.length, 1);
});

Deno.test("the API reads at most API_MAX_BODY_BYTES: a huge streamed body is 413 and cut short", async () => {
  await using server = await serveForTests(createApp());
  let sent = 0;
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  const total = 64 * 1024 * 1024; // 64 MiB offered
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  const response = await fetch(`${server.httpUrl}/api/announce`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${apiToken().token}` },
    body,
  });
  assert.equal(response.status, 413);
  await response.body?.cancel();
  assert.ok(sent < total / 4, `the server stopped reading: ${sent} of ${total} bytes were sent`);
  const exact = await post("/api/announce", " ".repeat(API_MAX_BODY_BYTES + 1));
  assert.equal(exact.status, 413);
  await exact.body?.cancel();
});
