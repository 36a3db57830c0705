/**
 * The AsyncAPI client generator: generate from the tutorial app's document, type-check a program
 * against the generated declarations (wrong messages must not compile), then use the generated
 * client against the served tutorial app.
 */
import "../../examples/tutorial/tests/test_env.ts";
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { generateAsyncApi } from "../../src/asyncapi/generator.ts";
import { createApp } from "../../examples/tutorial/app.ts";
import { serveOn } from "./serve.ts";
import { layers } from "../../mod.ts";

const root = new URL("../../", import.meta.url);
const decoder = new TextDecoder();

async function run(args: string[], cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function generate(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-client-" });
  await Deno.writeTextFile(`${dir}/asyncapi.json`, JSON.stringify(generateAsyncApi(createApp())));
  const r = await run([
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-net",
    new URL("cli/mod.ts", root).pathname,
    "client",
    "--schema",
    `${dir}/asyncapi.json`,
    "--out",
    `${dir}/client`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /✅ Client generated successfully!/);
  return dir;
}

const USAGE = `
import { createRoomChatClient, createSystemClient, createTopicHubClient } from "./client/mod.js";

const room = createRoomChatClient("ws://x", { roomName: "a" }, { autoConnect: false });
room.send({ action: "room_chat", payload: { message: "hi" } });
room.send({ action: "ping" });
// @ts-expect-error wrong payload field
room.send({ action: "room_chat", payload: { text: "hi" } });
// @ts-expect-error not a room_chat message
room.send({ action: "user_message", payload: { message: "hi" } });
// @ts-expect-error roomName is a required path parameter
createRoomChatClient("ws://x");
room.on("room_notification", (m) => {
  const status: "PENDING" | "DELIVERED" | "FAILED" = m.payload.status;
  const text: string = m.payload.message;
  void status, text;
});
// @ts-expect-error the server never sends room_chat
room.on("room_chat", () => {});

const hub = createTopicHubClient("ws://x", {}, { autoConnect: false });
hub.topic("room:a").send({ action: "post", payload: { body: "x" } });
// @ts-expect-error post goes to a topic, not the hub itself
hub.send({ action: "post", payload: { body: "x" } });
hub.topic("room:a").on("room_event", (m) => void m.payload.body);

const system = createSystemClient("ws://x", {}, { autoConnect: false });
system.request({ action: "user_message", payload: { message: "x" } }).then((r) => void r.action);
`;

Deno.test("codegen: the generated client type-checks and rejects wrong messages", async () => {
  const dir = await generate();
  try {
    for (const f of ["client.js", "client.d.ts", "mod.js", "mod.d.ts", "README.md"]) {
      assert.ok((await Deno.stat(`${dir}/client/${f}`)).isFile, f);
    }
    await Deno.writeTextFile(`${dir}/usage.ts`, USAGE);
    const checked = await run(["check", "--no-config", "usage.ts"], dir);
    assert.equal(checked.code, 0, checked.stderr);
    // And the check does fail on a wrong message (the @ts-expect-error lines are not vacuous).
    await Deno.writeTextFile(
      `${dir}/wrong.ts`,
      `import { createSystemClient } from "./client/mod.js";\n` +
        `createSystemClient("ws://x").send({ action: "user_message", payload: { msg: "x" } });\n`,
    );
    const wrong = await run(["check", "--no-config", "wrong.ts"], dir);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /msg/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("codegen: the generated client talks to the served tutorial app", async () => {
  const dir = await generate();
  const server = await serveOn(createApp());
  // deno-lint-ignore no-explicit-any
  const clients: any[] = [];
  try {
    const mod = await import(pathToFileURL(`${dir}/client/mod.js`).href);
    const system = mod.createSystemClient(server.url);
    clients.push(system);
    const echo = await system.request({ action: "user_message", payload: { message: "gen" } });
    assert.deepEqual(echo.payload, { message: "🔧 System Echo: gen" });

    const a = mod.createRoomChatClient(server.url, { roomName: "generated room" });
    clients.push(a);
    await a.opened();
    const got = new Promise((resolve) => a.on("room_notification", resolve));
    const done = await a.request({ action: "room_chat", payload: { message: "hello" } });
    assert.equal(done.action, "complete");
    // deno-lint-ignore no-explicit-any
    assert.equal(((await got) as any).payload.message, "💬 hello");
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
    // serveOn keeps the layers (other tests restart on the same port): this test is done with
    // them (with NATS_URL or REDIS_URL set they hold connections).
    await layers.closeAll();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("codegen: CLI errors exit 1 with a message", async () => {
  const missing = await run([
    "run",
    "--allow-read",
    "--allow-write",
    new URL("cli/mod.ts", root).pathname,
    "client",
    "--schema",
    "/nonexistent/asyncapi.json",
    "--out",
    "/tmp/never",
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /❌ File not found: \/nonexistent\/asyncapi.json/);
  const usage = await run(["run", new URL("cli/mod.ts", root).pathname, "client"]);
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /--schema and --out are required/);
});
