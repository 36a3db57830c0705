/**
 * The package's `switchboard` bin, as npm installed it (node_modules/.bin/switchboard): `asyncapi`
 * writes the plain-JS tutorial app's document (JSON and YAML), `client` generates a typed client
 * from it, and the generated client talks to the served app.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { after, describe, it } from "node:test";
import { serve } from "@switchboard/switchboard/adapters/node";
import { WebSocket } from "ws";
import { parse as parseYaml } from "yaml";
import { createApp } from "../../examples/node/app.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = join(root, "node_modules/.bin/switchboard");
const appModule = join(root, "examples/node/app.mjs");
const dir = mkdtempSync(join(tmpdir(), "switchboard-bin-"));

/** Runs the bin the way a shell would (through its shebang). */
function switchboard(...args) {
  const r = spawnSync(bin, args, { cwd: root, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, error: r.error };
}

describe("the switchboard bin", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("asyncapi writes the app's document as JSON and YAML; bad use exits 2 with the usage", () => {
    const json = switchboard(
      "asyncapi",
      "--app",
      appModule,
      "--format",
      "json",
      "--out",
      `${dir}/doc.json`,
    );
    assert.equal(json.code, 0, `${json.error ?? ""}${json.stderr}`);
    const doc = JSON.parse(readFileSync(`${dir}/doc.json`, "utf8"));
    assert.equal(doc.asyncapi, "3.0.0");
    assert.equal(doc.info.title, "Switchboard tutorial");
    const yaml = switchboard("asyncapi", "--app", appModule, "--out", `${dir}/doc.yaml`);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.deepEqual(parseYaml(readFileSync(`${dir}/doc.yaml`, "utf8")), doc);

    const noApp = switchboard("asyncapi");
    assert.equal(noApp.code, 2);
    assert.match(noApp.stderr, /--app is required/);
    const unknown = switchboard("nonsense");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'nonsense'/);
  });

  it("client generates a typed client that talks to the served app", async () => {
    const gen = switchboard("client", "--schema", `${dir}/doc.json`, "--out", `${dir}/client`);
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stdout, /Client generated successfully/);
    const { createSystemClient } = await import(pathToFileURL(`${dir}/client/mod.js`).href);
    const server = await serve(createApp(), { port: 0 });
    const client = createSystemClient(server.url, {}, { WebSocket, reconnect: false });
    try {
      const pong = await client.request({ action: "ping" });
      assert.equal(pong.action, "pong");
    } finally {
      await client.close();
      await server.close();
    }
    const missing = switchboard("client", "--schema", `${dir}/none.json`, "--out", `${dir}/x`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /File not found/);
  });
});
