// Type-checked by types.node.mjs against the installed package's .d.ts (strict, NodeNext, Node 20
// types, skipLibCheck off): what a TypeScript user on Node compiles. It imports and uses every
// export (types.node.mjs checks that this file names each subpath of package.json's exports).
import {
  App,
  Consumer,
  message,
  type MessageOf,
  onMessage,
  Ping,
  Pong,
  registerHandlers,
  wsHandler,
} from "@switchboard/switchboard";
import { InMemoryChannelLayer } from "@switchboard/switchboard/adapters/memory";
import {
  metricsOf,
  mountMetrics,
  type MountMetricsOptions,
} from "@switchboard/switchboard/metrics";
import { mountInspector } from "@switchboard/switchboard/inspector";
import { currentTraceparent, installTracing } from "@switchboard/switchboard/otel";
import {
  BaseApp,
  type RuntimeUpgrader,
  upgradeWithDeno,
} from "@switchboard/switchboard/adapters/deno";
import { RedisPubSubChannelLayer } from "@switchboard/switchboard/adapters/redis";
import {
  NatsChannelLayer,
  NatsJobQueue,
  type NatsTimeouts,
} from "@switchboard/switchboard/adapters/nats";
import {
  type BunHandler,
  type BunServer,
  createBunHandler,
  serve as serveOnBun,
} from "@switchboard/switchboard/adapters/bun";
import {
  attach,
  createNodeHandler,
  type NodeServer,
  serve,
} from "@switchboard/switchboard/adapters/node";
import { serveForTests, WebsocketCommunicator } from "@switchboard/switchboard/testing";
import { asyncApiToYaml, mountAsyncApi } from "@switchboard/switchboard/asyncapi";
import { clientMain, main as cliMain } from "@switchboard/switchboard/cli";
import {
  clientApi,
  type ClientOptions,
  createClient,
  type SwitchboardClient,
} from "@switchboard/switchboard/client";
import { checkClientApi, checkClientApis } from "@switchboard/switchboard/client/check";
import { createServer } from "node:http";
import { WebSocket } from "ws";
import { z } from "zod";

const Say = message("say", z.object({ text: z.string() }));
const Said = message("said", z.object({ text: z.string() }));

class Echo extends Consumer {
  // Standard decorators: tsc lowers them for Node 20.
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }
  handleSay(m: MessageOf<typeof Say>): MessageOf<typeof Said> {
    return Said.create({ text: m.payload.text });
  }
}
registerHandlers(Echo, { handleSay: onMessage(Say, { output: Said }) });

export async function main(): Promise<void> {
  const app = new App({ maxFrameBytes: 4096 }).ws("/ws/echo", Echo);
  const server: NodeServer = await serve(app, { port: 0, hostname: "127.0.0.1" });
  const attached = attach(createServer(), app, { http: true });
  const handler = createNodeHandler(app, { idleTimeout: 0 }); // the deprecated alias compiles
  const beating = createNodeHandler(app, { heartbeatSeconds: 0.5 });
  const upgrader: RuntimeUpgrader = upgradeWithDeno;
  const core: BaseApp = new BaseApp({ heartbeatSeconds: 10 }, upgrader);
  const wired: BaseApp = app; // the main entry's App is a BaseApp
  const testServer = await serveForTests(app);
  const comm = await WebsocketCommunicator.connect(app, "/ws/echo", { url: server.url, WebSocket });
  await comm.sendMessage(Say.create({ text: "typed" }));
  // @ts-expect-error: a payload of the wrong type does not compile
  Say.create({ text: 42 });
  await comm.disconnect();
  void [
    attached,
    handler,
    beating,
    core,
    wired,
    testServer,
    new InMemoryChannelLayer(),
    RedisPubSubChannelLayer,
    NatsChannelLayer,
    NatsJobQueue,
  ];
  const natsTimeouts: NatsTimeouts = { commandTimeoutMs: 500 };
  const natsLayer: { extensions: readonly string[] } = new NatsChannelLayer({
    servers: "nats://127.0.0.1:1",
  });
  void natsTimeouts;
  void natsLayer;
  // Bun: the handlers for a Bun.serve of your own, and serve() (rejects where there is no Bun).
  const bunHandler: BunHandler = createBunHandler(app, { nativeFanout: false });
  const onBun: Promise<BunServer> = serveOnBun(app, { port: 0, heartbeatSeconds: 5 });
  void [bunHandler.websocket, bunHandler.fetch, onBun.catch(() => {})];

  // Metrics, the inspector and tracing: each a subpath of its own (./otel needs @opentelemetry/api).
  const metricsOptions: MountMetricsOptions = { token: "t0ken-for-tests" };
  const metrics = mountMetrics(app, metricsOptions);
  const same: boolean = metricsOf(app) === metrics;
  mountInspector(app, { token: "t0ken-for-tests" });
  const stopTracing: () => void = installTracing();
  const parent: string | undefined = currentTraceparent();
  stopTracing();
  void [same, parent];

  // The typed client on Node: the `ws` class is a valid `WebSocket` option (TS2322 before).
  const options: ClientOptions = { WebSocket };
  const echo: SwitchboardClient = createClient(`${server.url}/ws/echo`, { WebSocket });
  const typed = createClient<typeof Echo>(`${server.url}/ws/echo`, options);
  const pong = await typed.request({ action: "ping" });
  if (pong.action === "pong") void pong.payload;
  const said = await typed.request({ action: "say", payload: { text: "hi" } });
  if (said.action === "said") {
    const text: string = said.payload.text;
    void text;
  }
  // @ts-expect-error 'say' needs its payload
  void typed.send({ action: "say" });
  await Promise.all([echo.close(), typed.close()]);

  checkClientApis(app);
  checkClientApi(Echo);
  void clientApi({ send: [Ping, Say] });
  const yaml: string = asyncApiToYaml(JSON.parse("{}"));
  mountAsyncApi(app, { path: "/docs" });
  const code: number = await cliMain(["--help"]);
  void [yaml, code, clientMain];
}
