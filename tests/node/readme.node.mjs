/**
 * README.md's Node example, run as a user would run it: `node readme_example.mjs` in its own
 * process (the test runner extracts it from the "## Node" section), then a ws client talks to it,
 * a refused upgrade gets 403, and SIGTERM shuts it down cleanly (1001, exit code 0).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { once, WebSocket } from "./helpers.mjs";

const example = fileURLToPath(new URL("../../examples/node/readme_example.mjs", import.meta.url));

describe("README Node example", { skip: !existsSync(example) && "no README example" }, () => {
  it("serves, answers, refuses, and shuts down on SIGTERM", async () => {
    const child = spawn(process.execPath, [example], {
      env: { ...process.env, PORT: "0" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const base = await new Promise((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk) => {
          out += chunk;
          const m = /listening on http:\/\/([^\s]+)/.exec(out);
          if (m) resolve(`ws://${m[1]}`);
        });
        child.once("exit", (code) => reject(new Error(`example exited with ${code}: ${out}`)));
      });

      const refused = new WebSocket(`${base}/ws/echo?token=nope`);
      refused.on("error", () => {});
      const [, res] = await once(refused, "unexpected-response");
      assert.equal(res.statusCode, 403);
      res.resume();
      refused.terminate();

      const ws = new WebSocket(`${base}/ws/echo`);
      const frames = [];
      const next = () =>
        new Promise((resolve) => {
          if (frames.length) return resolve(frames.shift());
          ws.once("message", () => resolve(frames.shift()));
        });
      ws.on("message", (data) => frames.push(JSON.parse(String(data))));
      await once(ws, "open");
      ws.send(JSON.stringify({ action: "say", payload: { text: "hi" } }));
      assert.deepEqual(await next(), { action: "said", payload: { text: "hi" } });
      ws.send(JSON.stringify({ action: "ping" }));
      assert.deepEqual(await next(), { action: "pong", payload: null });
      ws.send(JSON.stringify({ action: "say", payload: { text: "" } }));
      assert.equal((await next()).action, "error");

      const closed = once(ws, "close");
      child.kill("SIGTERM");
      const [code] = await closed;
      assert.equal(code, 1001);
      assert.equal(await exited, 0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
