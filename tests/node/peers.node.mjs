/**
 * redis, ws, yaml and @opentelemetry/api are optional peers: package.json declares them so, and the subpaths that do
 * not need them load in a process where they cannot be found (a resolve hook hides them, as if
 * the app had not installed them), while a subpath that needs one fails naming it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { it } from "node:test";

const pkg = JSON.parse(
  readFileSync(
    new URL("../../node_modules/@switchboard/switchboard/package.json", import.meta.url),
  ),
);
const OPTIONAL = ["redis", "@nats-io/transport-node", "ws", "yaml", "@opentelemetry/api"];
// Bun has no node:module resolve hooks (`register`): the peers cannot be hidden there.
const BUN_SKIP = process.versions.bun && "node:module resolve hooks are Node-only (Bun)";

/** Imports `subpaths` in a fresh node whose resolver cannot find the optional peers. */
function importWithoutPeers(subpaths) {
  const hooks = `export async function resolve(specifier, context, next) {
    if (${JSON.stringify(OPTIONAL)}.includes(specifier)) {
      const error = new Error("Cannot find package '" + specifier + "' (hidden by the test)");
      error.code = "ERR_MODULE_NOT_FOUND";
      throw error;
    }
    return next(specifier, context);
  }`;
  const script = `import { register } from "node:module";
    register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hooks)}));
    for (const s of ${JSON.stringify(subpaths)}) await import(${
    JSON.stringify(pkg.name)
  } + s.slice(1));`;
  return spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    cwd: new URL("../..", import.meta.url),
  });
}

it("package.json: redis, ws and yaml are optional peers, not dependencies", () => {
  for (const name of OPTIONAL) {
    assert.equal(pkg.dependencies?.[name], undefined, `${name} is a dependency`);
    assert.ok(pkg.peerDependencies?.[name], `${name} is not a peer`);
    assert.deepEqual(pkg.peerDependenciesMeta?.[name], { optional: true });
  }
});

it("the subpaths that do not need them load without redis, ws and yaml", { skip: BUN_SKIP }, () => {
  const r = importWithoutPeers([
    ".",
    "./client",
    "./client/check",
    "./adapters/memory",
    "./cli",
    "./metrics",
    "./inspector",
  ]);
  assert.equal(r.status, 0, r.stderr);
});

it("a subpath that needs a missing peer fails naming it", { skip: BUN_SKIP }, () => {
  for (
    const [subpath, peer] of [
      ["./adapters/redis", "redis"],
      ["./adapters/nats", "@nats-io/transport-node"],
      ["./adapters/node", "ws"],
      ["./asyncapi", "yaml"],
      ["./otel", "@opentelemetry/api"],
    ]
  ) {
    const r = importWithoutPeers([subpath]);
    assert.notEqual(r.status, 0, `${subpath} loaded without ${peer}`);
    assert.match(r.stderr, new RegExp(`Cannot find package '${peer}'`));
  }
});
