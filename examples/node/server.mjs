/** Serves the plain-JavaScript tutorial app on Node: `PORT=8080 node examples/node/server.mjs`. */
import process from "node:process";
import { serve } from "@switchboard/switchboard/adapters/node";
import { createApp } from "./app.mjs";

const app = createApp();
const server = await serve(app, {
  port: Number(process.env.PORT ?? 8080),
  hostname: process.env.HOST ?? "127.0.0.1",
  onListen: ({ hostname, port }) => console.log(`Switchboard on http://${hostname}:${port}/`),
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    console.log("Shutting down…");
    await server.close(); // sockets get 1001 after their onDisconnect; layers close
    process.exit(0);
  });
}
