/**
 * One server process of the Redis test: the plain-JS tutorial app with its "chat" layer on Redis.
 * `LAYER=pubsub|queue PREFIX=… REDIS_URL=… node redis_server.mjs` prints `listening on ws://…`,
 * and on SIGTERM closes the app and the layer, then exits 0.
 */
import process from "node:process";
import { layers } from "@switchboard/switchboard";
import { serve } from "@switchboard/switchboard/adapters/node";
import {
  RedisPubSubChannelLayer,
  RedisQueueChannelLayer,
} from "@switchboard/switchboard/adapters/redis";
import { createApp } from "../../examples/node/app.mjs";

process.env.SEND_COMPLETION ||= "1";
const options = { url: process.env.REDIS_URL, prefix: process.env.PREFIX };
const Layer = process.env.LAYER === "queue" ? RedisQueueChannelLayer : RedisPubSubChannelLayer;
layers.register("chat", () => new Layer(options));

const server = await serve(createApp(), { port: 0 });
console.log(`listening on ${server.url}`);
process.once("SIGTERM", async () => {
  await server.close(); // closes the layers too
  process.exit(0);
});
