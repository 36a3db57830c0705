// Run by node_test.ts on Node (20 has no global WebSocket): the browser-ready client.js with `ws`.
import { WebSocket } from "ws";
import { createClient, RequestError } from "../../client/client.js";

const client = createClient(`${process.env.SERVER_URL}/ws/echo`, { WebSocket });
try {
  const pong = await client.request({ action: "ping" });
  const said = await client.request({ action: "say", payload: { text: "from node" } });
  const error = await client.request({ action: "say", payload: { text: "" } }).catch((e) => e);
  console.log(JSON.stringify({
    globalWebSocket: typeof globalThis.WebSocket,
    pong: pong.action,
    said: said.payload,
    error: error instanceof RequestError ? error.name : String(error),
  }));
} finally {
  await client.close();
}
