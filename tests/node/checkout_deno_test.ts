/**
 * README.md's "Deno, from a git checkout" install, as a user follows it: a fresh Deno project
 * outside the repository whose deno.json is the README's (its `../switchboard/` paths pointed at
 * this checkout) imports the package by name, runs its tests, runs the CLI from the checkout
 * (`cli/mod.ts asyncapi`, then `client`), and type-checks code against the generated client.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The ```json block of README.md's "### Deno, from a git checkout". */
async function readmeDenoJson(): Promise<{ imports: Record<string, string> }> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const section = /^### Deno, from a git checkout\n([\s\S]*?)(?=^#{2,3} )/m.exec(readme)?.[1];
  const json = section && /```json\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(json, "README.md has no ```json block under '### Deno, from a git checkout'");
  return JSON.parse(json);
}

async function deno(cwd: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

const APP =
  `import { App, Consumer, message, type MessageOf, Ping, Pong, wsHandler } from "@switchboard/switchboard";
import { z } from "zod";

export const Say = message("say", z.object({ text: z.string() }));
export const Said = message("said", z.object({ text: z.string() }));

export class Echo extends Consumer {
  static override sendCompletion = true;
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
  @wsHandler(Say, { output: Said })
  handleSay(m: MessageOf<typeof Say>): MessageOf<typeof Said> {
    return Said.create({ text: m.payload.text });
  }
}

export const app = new App({ title: "Checkout app" }).ws("/ws/echo", Echo);
`;

const TEST = `import assert from "node:assert/strict";
import { WebsocketCommunicator } from "@switchboard/switchboard/testing";
import { createClient } from "@switchboard/switchboard/client";
import { checkClientApis } from "@switchboard/switchboard/client/check";
import { app, type Echo, Said, Say } from "./app.ts";

Deno.test("the checkout's package works by name", async () => {
  checkClientApis(app);
  await using comm = await WebsocketCommunicator.connect(app, "/ws/echo");
  await comm.sendMessage(Say.create({ text: "hi" }));
  assert.deepEqual(await comm.receiveAllMessages(), [Said.create({ text: "hi" })]);
  const typed = () => createClient<typeof Echo>("ws://localhost/ws/echo");
  // @ts-expect-error 'say' needs a text
  void (() => typed().send({ action: "say", payload: {} }));
});
`;

const USE_CLIENT = `import { createEchoClient } from "./client/mod.js";
const client = createEchoClient("ws://localhost:8080", {}, { autoConnect: false });
client.send({ action: "say", payload: { text: "typed" } });
// @ts-expect-error the generated types know 'say'
client.send({ action: "say", payload: { text: 1 } });
`;

Deno.test("README's Deno git-checkout install: a project outside the repo uses the package and its CLI by path", async () => {
  const project = await Deno.makeTempDir({ prefix: "switchboard-checkout-" });
  try {
    const config = await readmeDenoJson();
    const checkout = relative(project, ROOT);
    for (const [key, value] of Object.entries(config.imports)) {
      config.imports[key] = value.replace(/^\.\.\/switchboard\//, `${checkout}/`);
    }
    assert.ok(config.imports["@switchboard/switchboard"].startsWith("../"), "a relative path");
    await Deno.writeTextFile(join(project, "deno.json"), JSON.stringify(config, null, 2));
    await Deno.writeTextFile(join(project, "app.ts"), APP);
    await Deno.writeTextFile(join(project, "app_test.ts"), TEST);

    const test = await deno(project, "test", "-A", "app_test.ts");
    assert.equal(test.code, 0, test.stdout + test.stderr);
    assert.match(test.stdout, /1 passed/);

    const cli = join(checkout, "cli/mod.ts");
    const doc = await deno(
      project,
      "run",
      "-A",
      cli,
      "asyncapi",
      "--app",
      "./app.ts",
      "--format",
      "json",
      "--out",
      "asyncapi.json",
    );
    assert.equal(doc.code, 0, doc.stderr);
    const document = JSON.parse(await Deno.readTextFile(join(project, "asyncapi.json")));
    assert.equal(document.info.title, "Checkout app");
    const gen = await deno(
      project,
      "run",
      "-A",
      cli,
      "client",
      "--schema",
      "asyncapi.json",
      "--out",
      "client",
    );
    assert.equal(gen.code, 0, gen.stderr);
    await Deno.writeTextFile(join(project, "use_client.ts"), USE_CLIENT);
    const check = await deno(project, "check", "use_client.ts");
    assert.equal(check.code, 0, check.stderr);
  } finally {
    await Deno.remove(project, { recursive: true });
  }
});
