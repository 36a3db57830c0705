/**
 * One server process of the NATS test: the plain-JS tutorial app with its "chat" layer on NATS.
 * `PREFIX=… NATS_URL=… node nats_app.mjs` prints `listening on ws://…`, and on SIGTERM closes the
 * app and the layer, then exits 0.
 */
import process from "node:process";
import { layers } from "@switchboard/switchboard";
import { serve } from "@switchboard/switchboard/adapters/node";
import { NatsChannelLayer } from "@switchboard/switchboard/adapters/nats";
import { createApp } from "../../examples/node/app.mjs";

process.env.SEND_COMPLETION ||= "1";
const options = { servers: process.env.NATS_URL, prefix: process.env.PREFIX };
layers.register("chat", () => new NatsChannelLayer(options));

const server = await serve(createApp(), { port: 0 });
console.log(`listening on ${server.url}`);
process.once("SIGTERM", async () => {
  await server.close(); // closes the layers too
  process.exit(0);
});
