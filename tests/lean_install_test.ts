/**
 * `deno task dev` on a fresh clone fetches only what the library and the tutorial app run (issue 17).
 *
 * With `"nodeModulesDir": "auto"`, `deno task` first installs every npm package that the root
 * deno.json imports and deno.lock name, whatever the task runs. So the root config and its lock
 * hold the runtime packages only; test-only ones (playwright-core, the AsyncAPI parser and viewer,
 * typescript) live in deno.test.json and deno.test.lock, which the test, check and build:npm tasks
 * use. The first test runs the real `deno task` on a copy of the root config and lock and lists
 * what it put in node_modules.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = new URL("../", import.meta.url);

/** The npm packages (node_modules top-level names) the library and the tutorial app may pull. */
const RUNTIME = new Set([
  "zod",
  "redis",
  "@redis",
  "@nats-io",
  "ws",
  "@types",
  "yaml",
  "undici-types",
  "@opentelemetry", // @opentelemetry/api (no dependencies): only ./otel loads it
]);
/** Packages only tests and tools use; none may be installed by a plain `deno task`. */
const TEST_ONLY = [
  "playwright-core",
  "@asyncapi/parser",
  "@asyncapi/react-component",
  "typescript",
];

async function readJson(name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(new URL(name, ROOT)));
}

Deno.test("a plain `deno task` with the root deno.json and deno.lock installs runtime packages only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-lean-" });
  try {
    const config = await readJson("deno.json");
    config.tasks = { hello: "echo hello" };
    await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify(config, null, 2));
    await Deno.copyFile(new URL("deno.lock", ROOT), join(dir, "deno.lock"));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "hello"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(new TextDecoder().decode(out.stdout), /hello/);
    const installed: string[] = [];
    for await (const entry of Deno.readDir(join(dir, "node_modules"))) {
      if (!entry.name.startsWith(".")) installed.push(entry.name);
    }
    const extra = installed.filter((name) => !RUNTIME.has(name)).sort();
    assert.deepEqual(extra, [], `deno task installed test-only packages: ${extra.join(", ")}`);
    for (const name of ["zod", "redis", "ws", "yaml"]) assert.ok(installed.includes(name), name);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno.lock names no test-only package; deno.test.json maps them, and every root import the same", async () => {
  const lock = await Deno.readTextFile(new URL("deno.lock", ROOT));
  for (const name of TEST_ONLY) assert.ok(!lock.includes(`npm:${name}@`), `deno.lock has ${name}`);
  const root = (await readJson("deno.json")).imports as Record<string, string>;
  const test = await readJson("deno.test.json");
  const imports = test.imports as Record<string, string>;
  for (const [name, target] of Object.entries(root)) assert.equal(imports[name], target, name);
  for (const name of TEST_ONLY) assert.ok(imports[name]?.startsWith(`npm:${name}@`), name);
  assert.equal(test.nodeModulesDir, (await readJson("deno.json")).nodeModulesDir);
  assert.equal(test.lock, "deno.test.lock");
});
