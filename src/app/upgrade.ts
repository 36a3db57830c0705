/**
 * The upgrade decision of `App.upgrade` past the shutdown and origin checks: the mount-time checks
 * of a consumer (its topics, its layer), the connection slots (the `maxConnections` cap, reserved
 * before `authenticate` runs), routing and authentication, and the settings of an accepted
 * connection. The order of a decision: shutdown → origin → slot → route (with the standalone
 * topic's params) → layer → authenticate. No step waits on a promise unless `authenticate`
 * answers one: a decision made at once leaves no async frames behind (each connection's garbage).
 *
 * @module
 */
import type { Connection, ConnectionSettings } from "../connection/connection.ts";
import { ConnectionBinding } from "../connection/binding.ts";
import { KeptRequest } from "../connection/kept_request.ts";
import { type Consumer, CONSUMER_BINDING, type ConsumerClass } from "../consumer/consumer.ts";
import { checkHandlers } from "../consumer/handlers.ts";
import { routeParams } from "../consumer/params.ts";
import { DefinitionError, type LayerNotFoundError } from "../errors.ts";
import { DEFAULT_LAYER, layers } from "../layers/registry.ts";
import type { UpgradeDecision } from "../runtime/seam.ts";
import type { ServerSocket } from "../runtime/socket.ts";
import type { AppOptions } from "./options.ts";
import type { ConnectionObserver } from "../observe/hooks.ts";
import { truncateForEcho } from "../protocol/truncate.ts";
import { serverError, text } from "./responses.ts";

// --- mount-time checks ---

/** Mount-time checks of a consumer's topics: same layer as the host, route params for a standalone topic. */
export function checkTopics(
  path: string,
  params: readonly string[],
  consumer: ConsumerClass,
): void {
  const hostLayer = consumer.layer === undefined ? DEFAULT_LAYER : consumer.layer;
  for (const topic of consumer.topics) {
    checkHandlers(topic);
    topic.paramNames(); // compiles the pattern, throwing if there is none
    if (hostLayer === null || topic.layerAlias() !== hostLayer) {
      throw new DefinitionError(
        `${topic.name} broadcasts on layer '${topic.layerAlias()}' but ${consumer.name} subscribes on ${
          hostLayer === null ? "no layer" : `'${hostLayer}'`
        }: give both the same static layer, or broadcasts would never arrive`,
      );
    }
  }
  const standalone = consumer.defaultTopic;
  if (standalone) {
    const missing = standalone.paramNames().filter((n) => !params.includes(n));
    if (missing.length) {
      throw new DefinitionError(
        `app.ws('${path}'): default topic pattern '${standalone.pattern}' needs URL parameters ${
          JSON.stringify(missing)
        } that this route does not provide (got ${JSON.stringify(params)})`,
      );
    }
  }
}

/** The error of a route whose consumer names a layer alias nothing is registered under. */
export function missingLayer(
  route: { path: string; consumer: ConsumerClass },
): LayerNotFoundError | undefined {
  const alias = route.consumer.layer === undefined ? DEFAULT_LAYER : route.consumer.layer;
  if (alias === null || layers.has(alias)) return undefined; // checked per upgrade: no text made
  return layers.missing(
    alias,
    `${route.consumer.name} (app.ws('${route.path}')) uses channel layer '${alias}'. `,
  );
}

/**
 * The refusal (404) of an upgrade to a standalone topic route whose URL parameters do not make a
 * topic of its default topic: the topic formatted from `params` must parse back to the same
 * params (`/ws/topics/room/a%3Ab` would make `room:a:b`, which `room:{roomName}` does not match,
 * and the socket could do nothing). `undefined` when the consumer has no default topic or the
 * params round-trip.
 */
export function standaloneTopicRefusal(
  consumer: ConsumerClass,
  params: Readonly<Record<string, string>>,
): Response | undefined {
  const standalone = consumer.defaultTopic;
  if (!standalone) return undefined;
  const topic = standalone.format(params);
  const parsed = standalone.parse(topic);
  const bad = standalone.paramNames().find((n) => parsed?.[n] !== params[n]);
  if (parsed && bad === undefined) return undefined;
  const name = bad ?? standalone.paramNames()[0];
  return text(
    404,
    `No topic '${standalone.pattern}' for ${name} ${
      JSON.stringify(truncateForEcho(params[name] ?? ""))
    }: a topic parameter must not contain the pattern's separators (such as ':')`,
  );
}

// --- the decision ---

/** A refused upgrade, as `App.upgrade` answers it. */
export function refused(response: Response): Promise<UpgradeDecision> {
  return Promise.resolve({ accepted: false, response });
}

/** What an accepted upgrade's `accept` runs (the App's): makes the connection, counted as open. */
export type Connect = (
  consumer: Consumer,
  request: KeptRequest,
  params: Readonly<Record<string, string>>,
  socket: ServerSocket,
) => Connection;

/** A mounted WebSocket route, as the decision reads it. */
export interface RouteToDecide {
  readonly path: string;
  readonly consumer: ConsumerClass;
  readonly pattern: { match(pathname: string): Record<string, string> | undefined };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * Routes and authenticates an upgrade whose connection slot is reserved: at once when
 * `authenticate` answers at once (the default one does), else once its promise settles.
 */
export function decideUpgrade(
  routes: readonly RouteToDecide[],
  request: Request,
  url: URL,
  connect: Connect,
): SlotlessDecision | Promise<SlotlessDecision> {
  let route: RouteToDecide | undefined;
  let params: Record<string, string> | undefined;
  for (const r of routes) {
    params = r.pattern.match(url.pathname);
    if (params) {
      route = r;
      break;
    }
  }
  if (!route || !params) {
    return {
      accepted: false,
      response: text(404, `No WebSocket route for ${truncateForEcho(url.pathname)}`),
    };
  }
  const badTopic = standaloneTopicRefusal(route.consumer, params);
  if (badTopic) return { accepted: false, response: badTopic };
  const missing = missingLayer(route);
  if (missing) {
    return {
      accepted: false,
      response: serverError(`Refused an upgrade: ${missing.message}`, missing),
    };
  }
  const consumer = new route.consumer();
  const frozenParams = routeParams(params);
  // authenticate() can read request/params through a provisional binding (no connection yet).
  consumer[CONSUMER_BINDING] = new ConnectionBinding(request, frozenParams);
  const cls = route.consumer;
  let answer: unknown;
  try {
    answer = consumer.authenticate(request);
  } catch (error) {
    return authenticateFailed(cls, error);
  }
  if (!isThenable(answer)) return verdict(answer, consumer, request, frozenParams, connect);
  return Promise.resolve(answer).then(
    (settled) => verdict(settled, consumer, request, frozenParams, connect),
    (error) => authenticateFailed(cls, error),
  );
}

/** The 500 of an `authenticate` that threw or rejected (logged with its error id). */
function authenticateFailed(cls: ConsumerClass, error: unknown): SlotlessDecision {
  return {
    accepted: false,
    response: serverError(
      `${cls.name}.authenticate failed`,
      error,
      "Authentication failed with a server error",
    ),
  };
}

/** The decision `authenticate`'s answer makes: refused (a Response, or false), else accepted. */
function verdict(
  answer: unknown,
  consumer: Consumer,
  request: Request,
  params: Readonly<Record<string, string>>,
  connect: Connect,
): SlotlessDecision {
  if (answer instanceof Response) return { accepted: false, response: answer };
  if (answer === false) return { accepted: false, response: text(403, "Forbidden") };
  // Read now: once the runtime upgrades, a Deno request's headers throw "Request closed".
  const kept = new KeptRequest(request);
  return {
    accepted: true,
    consumer,
    accept: (socket) => connect(consumer, kept, params, socket),
  };
}

// --- connection slots ---

/** An accepted decision before its slot bookkeeping: `cancel` is added by {@linkcode ConnectionSlots}. */
export type SlotlessDecision =
  | { accepted: false; response: Response }
  | Omit<UpgradeDecision & { accepted: true }, "cancel">;

/** The open connections of an app and the upgrades holding a slot while they are decided. */
export class ConnectionSlots {
  /** The open connections. */
  readonly open: Set<Connection> = new Set();
  /** Upgrades past the cap check and not yet accepted or refused. */
  #reserved = 0;

  /** `max`: the `maxConnections` cap (undefined: none). */
  constructor(readonly max: number | undefined) {}

  /**
   * Takes a slot now, before anything is awaited, runs `decide` and holds the slot until the
   * decision's `accept` (the connection then counts in `open`) or a refusal, failure or `cancel`.
   * A full app answers 503 without running `decide`. A `decide` that throws rejects.
   */
  admit(decide: () => SlotlessDecision | Promise<SlotlessDecision>): Promise<UpgradeDecision> {
    if (this.max !== undefined && this.open.size + this.#reserved >= this.max) {
      return refused(text(503, "Too many connections"));
    }
    this.#reserved++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#reserved--;
    };
    const settle = (decision: SlotlessDecision): UpgradeDecision => {
      if (!decision.accepted) {
        release();
        return decision;
      }
      return {
        accepted: true,
        consumer: decision.consumer,
        accept: (socket) => {
          if (!held) throw new Error("accept() after cancel(): the connection slot is gone");
          const connection = decision.accept(socket);
          release();
          return connection;
        },
        cancel: release,
      };
    };
    let decided: SlotlessDecision | Promise<SlotlessDecision>;
    try {
      decided = decide();
    } catch (error) {
      release();
      return Promise.reject(error);
    }
    if (!(decided instanceof Promise)) return Promise.resolve(settle(decided));
    return decided.then(settle, (error) => {
      release();
      throw error;
    });
  }
}

// --- accepted connections ---

/** The settings of a connection accepted by an app with options `o` (defaults applied). */
export function connectionSettings(
  o: Readonly<AppOptions>,
  onClosed: (connection: Connection) => void,
  observer?: ConnectionObserver,
): ConnectionSettings {
  return {
    maxFrameBytes: o.maxFrameBytes!,
    idleTimeoutMs: o.idleTimeoutMs ?? 0,
    maxBufferedBytes: o.maxBufferedBytes!,
    slowClientPolicy: o.slowClientPolicy ?? "close",
    rateLimit: o.rateLimit,
    closeTimeoutMs: o.closeTimeoutMs ?? 5000,
    maxSubscriptions: o.maxSubscriptions ?? 100,
    maxPendingFrames: o.maxPendingFrames ?? 1000,
    maxPendingBytes: o.maxPendingBytes ?? 4 * 1024 * 1024,
    onClosed,
    ...(observer ? { observer } : {}),
  };
}
