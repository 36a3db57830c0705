/**
 * Harnesses for the conformance suite on NATS: the server of `NATS_URL` (a fresh subject prefix
 * per test), or a private `nats-server` started per test (`startNats`) with the fault kit:
 * restart, pause, an unreachable port, TCP proxies (one per connection role for split layers),
 * and a check through the server's monitoring port that `close()` left no connection open.
 *
 * The private servers run with `max_payload: 8MB` (the suite sends a 1 MB message; NATS's
 * default limit is 1 MB, payload and framing included). On a `NATS_URL` server with the default,
 * the runner ignores that one case (`megabyteMessages: false`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsChannelLayer } from "../../adapters/nats/mod.ts";
import { type ChannelLayer, randomToken } from "../../src/layers/kit.ts";
import { type NatsServer, startNats } from "../../testing/nats_server.ts";
import { freePort } from "../../testing/services.ts";
import { TcpProxy } from "../../testing/tcp_proxy.ts";
import type { LayerFaults, LayerHarness, LayerTestOptions } from "./conformance.ts";

/** The shared NATS of this run, or undefined (tests then start private servers). */
export const NATS_URL: string | undefined = Deno.env.get("NATS_URL") || undefined;

/**
 * Starts a private `nats-server -js` with an 8 MB max_payload and a monitoring port; `stop()`
 * stops it and removes its configuration file (kept until then: a restart reads it again).
 */
export async function startTestNats(): Promise<
  { server: NatsServer; monitor: number; stop(): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-nats-conf-" });
  const conf = `${dir}/nats.conf`;
  await Deno.writeTextFile(conf, "max_payload: 8MB\n");
  const monitor = freePort();
  const removeConf = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  try {
    const server = await startNats({ args: ["-c", conf, "-m", String(monitor)] });
    return {
      server,
      monitor,
      async stop() {
        await server.stop();
        await removeConf();
      },
    };
  } catch (error) {
    await removeConf();
    throw error;
  }
}

/** Client connections open on the server, from its monitoring endpoint. */
export async function openConnections(monitor: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${monitor}/varz`);
  const varz = await response.json() as { connections: number };
  return varz.connections;
}

/** The `max_payload` the server at `url` announces, in bytes. */
export async function maxPayload(url: string): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    return nc.info?.max_payload ?? 0;
  } finally {
    await nc.close();
  }
}

/** Makes a layer on `servers` (or given connections) with the test's options. */
export function makeNatsLayer(
  base: { servers?: string; connection?: NatsConnection; subscriber?: NatsConnection },
  prefix: string,
  options: LayerTestOptions = {},
): NatsChannelLayer {
  return new NatsChannelLayer({
    ...base,
    prefix,
    capacity: options.capacity,
    channelCapacity: options.channelCapacity,
    expiry: options.expiry,
    encryptionKeys: options.encryptionKeys,
    onDrop: options.onDrop as never,
    backoff: { minDelayMs: 20, maxDelayMs: 200 },
    timeouts: options.timeouts,
  });
}

function listen(layer: ChannelLayer, channel: string): Promise<void> {
  return (layer as NatsChannelLayer).listen(channel);
}

/** A harness on the shared `NATS_URL` server, with a subject prefix of its own. */
export function sharedNatsHarness(): () => Promise<LayerHarness> {
  return () => {
    const prefix = `sbtest${randomToken(8)}`;
    const made: NatsChannelLayer[] = [];
    return Promise.resolve({
      async make(options?: LayerTestOptions) {
        const layer = makeNatsLayer({ servers: NATS_URL! }, prefix, options);
        made.push(layer);
        await layer.connect();
        return layer;
      },
      listen,
      async dispose() {
        await Promise.all(made.map((l) => l.close()));
      },
    });
  };
}

/** A harness on a private server started per test, with {@linkcode LayerFaults}. */
export function privateNatsHarness(): () => Promise<LayerHarness> {
  return async () => {
    const nats = await startTestNats();
    const { server, monitor } = nats;
    const made: NatsChannelLayer[] = [];
    const proxies: TcpProxy[] = [];
    /** Proxies of the layers made by makeProxied (what killConnections drops). */
    const proxied: TcpProxy[] = [];
    /** Connections given to split layers (a layer does not close what it was given). */
    const given: NatsConnection[] = [];
    const open = (url: string, ms = 1000) =>
      connect({
        servers: url,
        timeout: ms,
        maxReconnectAttempts: -1,
        reconnectDelayHandler: () => 20,
      });
    const faults: LayerFaults = {
      restart: () => server.restart(),
      pause: () => server.pause(),
      resume: () => server.resume(),
      makeUnreachable(options?: LayerTestOptions) {
        const layer = makeNatsLayer({ servers: `nats://127.0.0.1:${freePort()}` }, "sb", options);
        made.push(layer);
        return layer;
      },
      async makeProxied(options?: LayerTestOptions) {
        const proxy = await TcpProxy.start(server.port);
        proxies.push(proxy);
        proxied.push(proxy);
        const layer = makeNatsLayer({ servers: proxy.url("nats") }, "sb", options);
        made.push(layer);
        await layer.connect();
        return { layer, proxies: [proxy] };
      },
      async makeSplit(options?: LayerTestOptions) {
        const commands = await TcpProxy.start(server.port);
        const listener = await TcpProxy.start(server.port);
        proxies.push(commands, listener);
        const ms = options?.timeouts?.connectTimeoutMs;
        const connection = await open(commands.url("nats"), ms);
        const subscriber = await open(listener.url("nats"), ms);
        given.push(connection, subscriber);
        const layer = makeNatsLayer({ connection, subscriber }, "sb", options);
        made.push(layer);
        await layer.connect();
        return { layer, listener: [listener], commands: [commands] };
      },
      killConnections() {
        // One connection carries both roles: dropping it drops "pubsub" and "normal" together.
        for (const p of proxied) p.dropAll();
        return Promise.resolve();
      },
    };
    return {
      async make(options?: LayerTestOptions) {
        const layer = makeNatsLayer({ servers: server.url }, "sb", options);
        made.push(layer);
        await layer.connect();
        return layer;
      },
      listen,
      faults,
      async dispose() {
        try {
          await Promise.all(made.map((l) => l.close()));
          await Promise.all(given.map((c) => c.close().catch(() => {})));
          await Promise.all(proxies.map((p) => p.close()));
          const gone = await server.exitReport();
          if (gone) throw new Error(`The test's NATS server went away under it: ${gone}`);
          if (server.running && !server.paused) {
            let left = await openConnections(monitor);
            // A proxy's upstream side closes a moment after the layer closed its side.
            for (let i = 0; left > 0 && i < 50; i++) {
              await new Promise((r) => setTimeout(r, 20));
              left = await openConnections(monitor);
            }
            assert.equal(left, 0, `connections left open on ${server.url} after close()`);
          }
        } finally {
          await nats.stop();
        }
      },
    };
  };
}
