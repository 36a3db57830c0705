/** client.js on Node 20 with the `ws` package, against a served app. */
import assert from "node:assert/strict";
import { createTestApp } from "./fixtures.ts";
import { serveOn } from "./serve.ts";

Deno.test("client.js runs on Node with `ws` (no global WebSocket on Node 20)", async () => {
  const server = await serveOn(createTestApp());
  try {
    const out = await new Deno.Command("node", {
      args: [new URL("./node_client.mjs", import.meta.url).pathname],
      env: { SERVER_URL: server.url },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(result.pong, "pong");
    assert.deepEqual(result.said, { text: "from node", loud: false });
    assert.equal(result.error, "RequestError");
  } finally {
    await server.close();
  }
});
