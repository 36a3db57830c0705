/**
 * The Switchboard side of the Node rows, served on Node by adapters/node (`node:http` + `ws`).
 * Node 20 runs no TypeScript: bench/scenarios/node.ts compiles this file with
 * scripts/compile_node.ts and runs `node .bench-node/bench/servers/switchboard_node.js
 * <echo|fanout|idle|cross>`, which prints `READY <port>`. The app: bench/servers/runtime_app.ts.
 *
 * @module
 */
import process from "node:process";
import { serve } from "../../adapters/node/mod.ts";
import { crossLayer, runtimeApp } from "./runtime_app.ts";

await crossLayer(process.argv[2]); // `cross`: the room's group over Redis pub/sub (REDIS_URL)
const server = await serve(runtimeApp(), {
  port: 0,
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`READY ${port}`),
});
process.once("SIGTERM", async () => {
  await server.close();
  process.exit(0);
});
