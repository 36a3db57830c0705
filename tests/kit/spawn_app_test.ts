/** spawnApp: a second process of an app, ready when it listens, killed with SIGKILL. */
import assert from "node:assert/strict";
import { z } from "zod";
import { message } from "../../mod.ts";
import { spawnApp, WebsocketCommunicator } from "../../testing/mod.ts";
import { ownsListener } from "../../testing/spawn_app.ts";
import { App } from "../../mod.ts";

const APP = import.meta.resolve("../fixtures/echo_app.ts");
const Echo = message("echo", z.object({ text: z.string() }));
/** Over a `url` the communicator talks to the other process; this app is only its handle. */
const client = new App();

Deno.test("spawnApp runs the app on a free port; kill() is SIGKILL and the socket dies", async () => {
  await using other = await spawnApp(APP);
  assert.match(other.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
  const comm = await WebsocketCommunicator.connect(client, "/ws/echo", { url: other.url });
  await comm.sendMessage(Echo.create({ text: "hi" }));
  assert.deepEqual(await comm.receiveAllMessages(), [
    { action: "echoed", payload: { text: "hi", pid: other.pid } },
  ]);
  const status = await other.kill();
  assert.equal(status.signal, "SIGKILL");
  const closed = await comm.waitForClose();
  assert.notEqual(closed.code, 1000, "a killed process closed cleanly");
  assert.equal((await other.kill()).signal, "SIGKILL", "kill() is idempotent");
});

Deno.test("spawnApp: ready on a matching line; a failing app rejects with its output", async () => {
  await using ready = await spawnApp(APP, {}, { ready: /listening on \d+/ });
  assert.match(ready.output(), new RegExp(`listening on ${ready.port}`));
  await assert.rejects(
    spawnApp(import.meta.resolve("../fixtures/missing_app.ts")),
    (e: Error) => /exited \(code 1\)/.test(e.message) && /missing_app\.ts/.test(e.message),
  );
  // A whole command, run in another directory.
  const fixtures = new URL("../fixtures/", import.meta.url).pathname;
  await using custom = await spawnApp("", {}, {
    command: [Deno.execPath(), "run", "-A", "echo_app.ts"],
    cwd: fixtures,
  });
  assert.notEqual(custom.port, ready.port);
  // A port that is taken is never mistaken for the new app: given explicitly, it fails.
  await assert.rejects(spawnApp(APP, {}, { port: ready.port }), /in use/);
});

Deno.test("ownsListener tells this process's listening socket from another's (Linux /proc)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const own = ownsListener(port, Deno.pid);
    if (own === undefined) return; // no /proc here: spawnApp trusts the port
    assert.equal(own, true);
    assert.equal(ownsListener(port, other.pid), false);
  } finally {
    listener.close();
    other.kill("SIGKILL");
    await other.status;
  }
});

Deno.test("spawnApp: waitForOutput resolves with the matching lines printed from the call on", async () => {
  await using other = await spawnApp(APP);
  const comm = await WebsocketCommunicator.connect(client, "/ws/echo", { url: other.url });
  const say = async (text: string) => {
    await comm.sendMessage(Echo.create({ text }));
    await comm.receiveAllMessages();
  };
  const before = other.waitForOutput(/^echo before$/);
  await say("before");
  await before; // read before the next wait starts: not counted there
  const two = other.waitForOutput(/^echo (before|a|err:b)$/, { count: 2 });
  const one = other.waitForOutput(/^echo err:/); // stderr too
  await say("a");
  await say("err:b");
  assert.deepEqual(await two, ["echo a", "echo err:b"]);
  assert.deepEqual(await one, ["echo err:b"]);
  await assert.rejects(
    other.waitForOutput(/^never$/, { timeoutMs: 50 }),
    (e: Error) => /not within 50 ms, 0 of 1 lines/.test(e.message) && /echo a/.test(e.message),
  );
  const pending = other.waitForOutput(/^never$/);
  await comm.disconnect();
  await other.kill();
  await assert.rejects(pending, /the process exited/);
  await assert.rejects(other.waitForOutput(/x/), /the process exited/);
});
