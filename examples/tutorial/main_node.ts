/**
 * `deno task dev:node`: the same tutorial app as `deno task dev`, served on Node by adapters/node
 * (`node:http` + `ws`) — every consumer, the page at `/`, the docs at `/asyncapi` — on PORT
 * (default 8080), with the same settings (REDIS_URL, SEND_COMPLETION, API_TOKEN, ALLOWED_ORIGINS,
 * …; see settings.ts) and an in-process worker. Node 20 runs no TypeScript: `deno task dev:node`
 * (scripts/dev_node.ts) compiles this module, the tutorial and the library with the TypeScript
 * compiler, as `deno task build:npm` does, and runs the output with `node`.
 *
 * The tutorial's modules read their settings with `Deno.env` and serve files with
 * `Deno.readFile`: ./deno_shim.ts answers those few calls from `node:process` and `node:fs`.
 */
import "./deno_shim.ts"; // the tutorial's few Deno calls, from node:process and node:fs
import process from "node:process";

const { serveTutorial } = await import("./serve_runtime.ts");
const { serve } = await import("../../adapters/node/mod.ts");
await serveTutorial(`Node ${process.version}`, serve);
