/**
 * One black-box wire check against the tutorial app on every runtime it runs on: `deno task dev`
 * (examples/tutorial/main.ts on Deno), `deno task dev:node` (examples/tutorial/main_node.ts,
 * compiled by scripts/dev_node.ts, on Node) and `deno task dev:bun` (examples/tutorial/main_bun.ts
 * on Bun), each spawned as its own process on a free PORT with SEND_COMPLETION=1, over real
 * sockets: `/healthz`, ping → pong, and a room's join notice and chat line — the same frames from
 * all three. The Bun case is ignored, saying why, when no Bun is found.
 */
import assert from "node:assert/strict";
import { spawnApp } from "@switchboard/switchboard/testing";
import { GROUP_ACTION_COMPLETE, WebsocketCommunicator } from "@switchboard/switchboard/testing";
import { Ping, Pong } from "@switchboard/switchboard";
import { app } from "../../examples/tutorial/app.ts";
import { bunArgs, findBun, ROOT } from "../../scripts/bun.ts";

const bun = findBun();
/** scripts/dev_node.ts --build-only: compiles the tutorial for Node, answers the entry to run. */
async function nodeEntry(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", "deno.test.json", "-A", "scripts/dev_node.ts", "--build-only"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

const runtimes: Array<
  { name: string; command?: string[] | (() => Promise<string[]>); module: string; skip?: string }
> = [
  { name: "deno", module: "examples/tutorial/main.ts" },
  {
    name: "node",
    module: "examples/tutorial/main_node.ts",
    command: async () => ["node", await nodeEntry()],
  },
  {
    name: "bun",
    module: "examples/tutorial/main_bun.ts",
    command: bun ? [bun, ...bunArgs("examples/tutorial/main_bun.ts")] : undefined,
    skip: bun ? undefined : "no bun (source .ci/bun.sh; ensure_bun)",
  },
];

/** What one runtime answered, for comparing the runtimes with each other. */
const seen = new Map<string, unknown>();

for (const runtime of runtimes) {
  Deno.test({
    name: `tutorial on ${runtime.name}: healthz, ping, room join and chat over the wire${
      runtime.skip ? ` [skipped: ${runtime.skip}]` : ""
    }`,
    ignore: Boolean(runtime.skip),
    sanitizeResources: false, // the spawned process's pipes are read until it exits
    sanitizeOps: false,
    async fn() {
      const command = typeof runtime.command === "function"
        ? await runtime.command()
        : runtime.command;
      await using server = await spawnApp(
        runtime.module,
        // The wire as Chanx sends it: the chat's history (on by default) is off here.
        { SEND_COMPLETION: "1", REDIS_URL: "", SWITCHBOARD_LOG: "warn", CHAT_HISTORY: "off" },
        { command, cwd: ROOT, ready: /Switchboard tutorial/ },
      );
      const health = await fetch(`${server.httpUrl}/healthz`);
      assert.equal(health.status, 200, server.output());
      await health.body?.cancel();
      const url = { url: server.url };
      const a = await WebsocketCommunicator.connect(app, "/ws/room/wire", url);
      await a.sendMessage(Ping.create());
      assert.deepEqual(await a.receiveAllMessages(), [Pong.create()]);
      const b = await WebsocketCommunicator.connect(app, "/ws/room/wire", url);
      const joined = await a.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
      await a.sendJson({ action: "room_chat", payload: { message: "over the wire" } });
      const line = await b.receiveAllMessages({ stopAction: GROUP_ACTION_COMPLETE });
      await a.disconnect();
      await b.disconnect();
      const result = { joined, line };
      assert.equal(joined.length, 1, JSON.stringify(joined));
      assert.equal(line.length, 1, JSON.stringify(line));
      for (const [other, theirs] of seen) {
        assert.deepEqual(result, theirs, `${runtime.name} differs from ${other}`);
      }
      seen.set(runtime.name, result);
    },
  });
}
