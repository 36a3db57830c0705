/**
 * The Switchboard side of the Bun rows, served on Bun by adapters/bun (native group fan-out on).
 *
 * `bun --tsconfig-override=bun.tsconfig.json run bench/servers/switchboard_bun.ts <echo|fanout|idle|cross>`
 * prints `READY <port>`. The app: bench/servers/runtime_app.ts.
 *
 * @module
 */
import process from "node:process";
import { serve } from "../../adapters/bun/mod.ts";
import { crossLayer, runtimeApp } from "./runtime_app.ts";

await crossLayer(process.argv[2]); // `cross`: the room's group over Redis pub/sub (REDIS_URL)
const server = await serve(runtimeApp(), {
  port: 0,
  nativeFanout: process.env.NATIVE_FANOUT !== "0",
  onListen: ({ port }) => console.log(`READY ${port}`),
});
process.once("SIGTERM", async () => {
  const stats = server.handler.fanout;
  if (stats) {
    console.error(
      `fan-out: ${stats.native} native, ${stats.declined} declined`,
    );
  }
  await server.close();
  process.exit(0);
});
