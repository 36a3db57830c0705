/**
 * The App: WebSocket routes to consumers, plain HTTP routes to handlers, one `fetch` for
 * `Deno.serve`, and clean shutdown.
 *
 * @module
 */
import { Connection } from "../connection/connection.ts";
import { ConnectionBinding } from "../connection/binding.ts";
import {
  type Consumer,
  CONSUMER_BINDING,
  type ConsumerClass,
  type ParamsOf,
} from "../consumer/consumer.ts";
import { CloseCode } from "../protocol/close_codes.ts";
import { DefinitionError, type LayerNotFoundError } from "../errors.ts";
import { checkHandlers } from "../consumer/handlers.ts";
import { DEFAULT_LAYER, layers } from "../layers/registry.ts";
import { getLogger } from "../logger.ts";
import { routeParams } from "../consumer/params.ts";
import { compilePath, type PathParams, type PathPattern } from "./route.ts";
import type { ConnectionHandle, ServerSocket } from "../runtime/socket.ts";
import { truncateForEcho } from "../protocol/truncate.ts";
import { upgradeWithDeno } from "../runtime/deno.ts";
import { DEFAULT_MAX_BODY_BYTES, limitBody } from "./http_body.ts";
import { compileOriginRule, type OriginCheck, type OriginRule } from "./origin.ts";

/** Options of {@linkcode App}. */
export interface AppOptions {
  /** Largest accepted text frame in bytes; bigger frames close the socket with 1009. Default 1 MiB. */
  maxFrameBytes?: number;
  /**
   * Which browser origins may open WebSockets (cross-site WebSocket hijacking and DNS rebinding
   * protection), checked before authentication; a refused origin gets 403 and a log line saying
   * why. Requests without an `Origin` header (non-browser clients) are always allowed.
   *
   * - `"same-origin"` (default): the Origin must equal the request's own origin — scheme, host and
   *   port — and the host must be an IP literal or `localhost`: a named host comes from the `Host`
   *   header, which a DNS rebinding attack controls, so a server reached by name needs its public
   *   origins listed.
   * - a list of origins (`["https://app.example.com"]`), compared in canonical form
   *   (`scheme://host[:port]`, lower case, default port dropped); `"same-origin"` may be one entry
   *   to keep the same-origin rule and add others. Behind a TLS-terminating proxy, list the public
   *   `https://` origin: the request the app sees is plain `http`.
   * - `"*"` allows every origin; a function decides itself.
   */
  allowedOrigins?: OriginRule;
  /**
   * Largest request body HTTP routes accept, in bytes (per route: `route(..., {maxBodyBytes})`).
   * Bodies are read incrementally and refused with 413 as soon as they pass it, so memory stays
   * bounded. Default 1 MiB; `Infinity` hands the body to the handler unread.
   */
  maxBodyBytes?: number;
  /**
   * Most open connections; further upgrades get 503. A slot is reserved before `authenticate`
   * runs (and released when it refuses or fails), so slow authentication cannot overshoot the cap.
   * Default: no limit.
   */
  maxConnections?: number;
  /**
   * Protocol-level heartbeat: the runtime pings every this many seconds and closes a connection
   * that does not answer in time (dead peers, half-open TCP). Default 30; 0 disables it.
   */
  heartbeatSeconds?: number;
  /** Close a connection that sent no frame for this many ms (code 1001). Default 0: never. */
  idleTimeoutMs?: number;
  /** Bytes queued for one client before it counts as slow. Default 4 MiB. */
  maxBufferedBytes?: number;
  /**
   * What to do with a slow client: `"close"` (default) closes it with 1013; `"drop"` drops frames
   * of droppable message types (`message(..., {droppable: true})`) and still closes at 4× the limit.
   * Either way a group fan-out never waits for its slowest member.
   */
  slowClientPolicy?: "close" | "drop";
  /**
   * Per-connection limit on incoming frames (token bucket). An over-limit frame gets an error frame
   * (`rate_limited`) and is not handled; `maxViolations` refusals within 10 s close the connection
   * with 1008. Default: off.
   */
  rateLimit?: { perSecond: number; burst?: number; maxViolations?: number };
  /**
   * How long a closing connection may take to finish the closing handshake, in ms; past it the
   * socket is dropped and `onDisconnect` runs with 1006 (a client that stopped reading never
   * answers). Default 5000; 0 waits for the runtime.
   */
  closeTimeoutMs?: number;
  /**
   * Most topic subscriptions one connection may hold; one more gets an error frame with reason
   * `too_many_subscriptions`. Default 100.
   */
  maxSubscriptions?: number;
  /**
   * Most client frames waiting to be handled on one connection (while a handler or the layer is
   * slow); further frames get a `too_many_pending` error frame until the queue drains. Default 1000.
   */
  maxPendingFrames?: number;
  /**
   * Most frame text waiting to be handled on one connection, in UTF-16 code units (bytes for ASCII
   * text); beyond it, as `maxPendingFrames`. Default 4 MiB.
   */
  maxPendingBytes?: number;
  /** Title used by documentation generators. */
  title?: string;
  /** Version used by documentation generators. */
  version?: string;
  /** Description used by documentation generators. */
  description?: string;
}

/**
 * Context passed to HTTP handlers. `K`: the route's parameter names (`"name"` for `/hello/:name`).
 */
export interface HttpContext<K extends string = string> {
  /** Path parameters; reading a name the route does not have throws `MissingParamError`. */
  params: Readonly<Record<K, string>>;
  /** The app. */
  app: App;
}

/** Options of one HTTP route ({@linkcode App.route}). */
export interface RouteOptions {
  /** Largest accepted request body in bytes; default the app's `maxBodyBytes` (1 MiB). */
  maxBodyBytes?: number;
}

/** A plain HTTP route handler; `K` are the route's parameter names. */
export type HttpHandler<K extends string = string> = (
  request: Request,
  context: HttpContext<K>,
) => Response | Promise<Response>;

/**
 * `unknown` when the route at `P` provides every path parameter the consumer class `C` declares
 * (`Consumer<Events, "room">`); otherwise a type naming the missing ones, so that
 * `app.ws("/ws/room/:roomName", RoomConsumer)` does not compile.
 */
export type RouteFits<P extends string, C> = string extends ParamsOf<C> ? unknown
  : string extends PathParams<P> ? unknown
  : [Exclude<ParamsOf<C>, PathParams<P>>] extends [never] ? unknown
  : { readonly "~routeLacksParams": Exclude<ParamsOf<C>, PathParams<P>> };

/** A mounted WebSocket route. */
export interface WsRoute {
  /** The path pattern, e.g. `/ws/room/:roomName`. */
  readonly path: string;
  /** Path parameter names. */
  readonly params: readonly string[];
  /** The consumer class. */
  readonly consumer: ConsumerClass;
}

type MountedWsRoute = WsRoute & { pattern: PathPattern };

interface HttpRoute {
  method: string;
  pattern: PathPattern;
  handler: HttpHandler;
  maxBodyBytes: number | undefined;
}

/** The answer of {@linkcode App.upgrade}: a refusal, or an accepted consumer waiting for its socket. */
export type UpgradeDecision =
  | { accepted: false; response: Response }
  | {
    accepted: true;
    /** The consumer instance (authenticated, not yet connected). */
    consumer: Consumer;
    /** Attaches the socket; the adapter then calls `opened()`, `text()`, `closed()` on the handle. */
    accept(socket: ServerSocket): ConnectionHandle;
    /**
     * Gives up the connection slot reserved for this upgrade when no socket will come (the client
     * left during authentication). No effect after `accept`; calling it twice is harmless.
     */
    cancel(): void;
  };

/** Mount-time checks of a consumer's topics: same layer as the host, route params for a standalone topic. */
function checkTopics(path: string, params: readonly string[], consumer: ConsumerClass): void {
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

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * A 500 that tells the client nothing about the failure but an id, which the error log line
 * carries too (`fields.errorId`): the exception's text stays in the server log.
 */
function serverError(logMessage: string, error: unknown, what = "Internal server error"): Response {
  const errorId = crypto.randomUUID();
  getLogger().error(logMessage, { error, errorId });
  return text(500, `${what} (error id ${errorId})`, { "x-error-id": errorId });
}

/** The error of a route whose consumer names a layer alias nothing is registered under. */
function missingLayer(route: WsRoute): LayerNotFoundError | undefined {
  const alias = route.consumer.layer === undefined ? DEFAULT_LAYER : route.consumer.layer;
  if (alias === null) return undefined;
  return layers.missing(
    alias,
    `${route.consumer.name} (app.ws('${route.path}')) uses channel layer '${alias}'. `,
  );
}

/** A Switchboard application. */
export class App {
  /** Options as given. */
  readonly options: Readonly<AppOptions>;
  readonly #ws: MountedWsRoute[] = [];
  readonly #http: HttpRoute[] = [];
  readonly #connections = new Set<Connection>();
  /** Upgrades past the connection cap check and not yet accepted or refused. */
  #reserved = 0;
  #closing = false;
  #startChecked = false;
  readonly #origin: OriginCheck;

  /** Creates an app. */
  constructor(options: AppOptions = {}) {
    this.options = {
      maxFrameBytes: 1024 * 1024,
      allowedOrigins: "same-origin",
      heartbeatSeconds: 30,
      idleTimeoutMs: 0,
      maxBufferedBytes: 4 * 1024 * 1024,
      slowClientPolicy: "close",
      closeTimeoutMs: 5000,
      maxSubscriptions: 100,
      maxPendingFrames: 1000,
      maxPendingBytes: 4 * 1024 * 1024,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      ...options,
    };
    this.#origin = compileOriginRule(this.options.allowedOrigins ?? "same-origin");
    this.fetch = this.fetch.bind(this);
  }

  /**
   * Mounts `consumer` at `path` (`:name` segments become `consumer.params.name`). A consumer that
   * declares its parameters (`Consumer<Events, "room">`) only compiles with a route that has them.
   * Its layer alias may be registered later, until the app serves: see {@linkcode App.check}.
   */
  ws<P extends string, C extends ConsumerClass>(path: P, consumer: C & RouteFits<P, C>): this {
    if (typeof consumer !== "function") {
      throw new DefinitionError(`app.ws('${path}'): the second argument must be a Consumer class`);
    }
    checkHandlers(consumer);
    const pattern = compilePath(path);
    checkTopics(path, pattern.params, consumer);
    this.#ws.push({ path, params: pattern.params, consumer, pattern });
    return this;
  }

  /**
   * Mounts an HTTP handler for `method` (or `"*"`) at `path`; `context.params` is typed from the
   * path (`/hello/:name` → `params.name`). The handler sees a body of at most `maxBodyBytes` (413
   * beyond, before the handler runs). See docs/http.md.
   */
  route<P extends string>(
    method: string,
    path: P,
    handler: HttpHandler<PathParams<P>>,
    options: RouteOptions = {},
  ): this {
    this.#http.push({
      method: method.toUpperCase(),
      pattern: compilePath(path),
      handler: handler as HttpHandler,
      maxBodyBytes: options.maxBodyBytes,
    });
    return this;
  }

  /** Mounts a GET handler (it answers HEAD too). */
  get<P extends string>(
    path: P,
    handler: HttpHandler<PathParams<P>>,
    options?: RouteOptions,
  ): this {
    return this.route("GET", path, handler, options);
  }

  /** Mounts a POST handler. */
  post<P extends string>(
    path: P,
    handler: HttpHandler<PathParams<P>>,
    options?: RouteOptions,
  ): this {
    return this.route("POST", path, handler, options);
  }

  /**
   * The configuration mistakes found now: one `LayerNotFoundError` per WebSocket route whose
   * consumer names a layer alias nothing is registered under (only the route matching `pathname`
   * when given). Empty when all is well.
   */
  problems(pathname?: string): LayerNotFoundError[] {
    const out: LayerNotFoundError[] = [];
    for (const r of this.#ws) {
      if (pathname !== undefined && !r.pattern.match(pathname)) continue;
      const error = missingLayer(r);
      if (error) out.push(error);
      if (pathname !== undefined) break;
    }
    return out;
  }

  /**
   * Throws the first of {@linkcode App.problems} (a `LayerNotFoundError` naming the route, the
   * alias and the registered ones), for every route or the one matching `pathname`. Call it at startup once the layers are registered; the testing
   * communicator calls it before connecting. An app that serves without it still finds the mistake
   * at its first request (logged as an error) and refuses upgrades to such routes with a 500
   * instead of opening sockets that close with 1011.
   */
  check(pathname?: string): void {
    const [first] = this.problems(pathname);
    if (first) throw first;
  }

  #checkAtStart(): void {
    if (this.#startChecked) return;
    this.#startChecked = true;
    for (const problem of this.problems()) {
      getLogger().error(`Misconfigured app: ${problem.message}`, { error: problem });
    }
  }

  /** The WebSocket routes, in mounting order. */
  get routes(): readonly WsRoute[] {
    return this.#ws.map(({ path, params, consumer }) => ({ path, params, consumer }));
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Decides an upgrade request: route, then `authenticate` — all before any socket exists.
   * Runtime adapters call this, then upgrade and `accept(socket)`.
   */
  async upgrade(request: Request): Promise<UpgradeDecision> {
    this.#checkAtStart();
    if (this.#closing) return { accepted: false, response: text(503, "Server is shutting down") };
    const url = new URL(request.url);
    const refusal = this.checkOrigin(request);
    if (refusal !== undefined) {
      getLogger().warn(`Refused a WebSocket to ${url.pathname}: ${refusal}`);
      return { accepted: false, response: text(403, refusal) };
    }
    const max = this.options.maxConnections;
    if (max !== undefined && this.#connections.size + this.#reserved >= max) {
      return { accepted: false, response: text(503, "Too many connections") };
    }
    // The slot is taken now, before anything is awaited, and held until accept or refusal.
    this.#reserved++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#reserved--;
    };
    try {
      const decision = await this.#decide(request, url);
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
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Routes and authenticates an upgrade whose connection slot is reserved. */
  async #decide(
    request: Request,
    url: URL,
  ): Promise<
    { accepted: false; response: Response } | Omit<UpgradeDecision & { accepted: true }, "cancel">
  > {
    let route: MountedWsRoute | undefined;
    let params: Record<string, string> | undefined;
    for (const r of this.#ws) {
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
    let verdict: unknown;
    try {
      verdict = await consumer.authenticate(request);
    } catch (error) {
      return {
        accepted: false,
        response: serverError(
          `${route.consumer.name}.authenticate failed`,
          error,
          "Authentication failed with a server error",
        ),
      };
    }
    if (verdict instanceof Response) return { accepted: false, response: verdict };
    if (verdict === false) return { accepted: false, response: text(403, "Forbidden") };
    return {
      accepted: true,
      consumer,
      accept: (socket) => {
        const o = this.options;
        const connection = new Connection(consumer, request, frozenParams, socket, {
          maxFrameBytes: o.maxFrameBytes!,
          idleTimeoutMs: o.idleTimeoutMs ?? 0,
          maxBufferedBytes: o.maxBufferedBytes!,
          slowClientPolicy: o.slowClientPolicy ?? "close",
          rateLimit: o.rateLimit,
          closeTimeoutMs: o.closeTimeoutMs ?? 5000,
          maxSubscriptions: o.maxSubscriptions ?? 100,
          maxPendingFrames: o.maxPendingFrames ?? 1000,
          maxPendingBytes: o.maxPendingBytes ?? 4 * 1024 * 1024,
          onClosed: (c) => this.#connections.delete(c),
        });
        this.#connections.add(connection);
        return connection;
      },
    };
  }

  /**
   * Why `request`'s `Origin` would be refused by `allowedOrigins`, or `undefined` when it is
   * allowed or absent. Upgrades use it; a page can ask through an HTTP route to explain a refusal.
   */
  checkOrigin(request: Request): string | undefined {
    const origin = request.headers.get("origin");
    return origin === null ? undefined : this.#origin(origin, request);
  }

  /** Handles a request: WebSocket upgrades (on Deno) and HTTP routes. Pass it to `Deno.serve`. */
  async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const decision = await this.upgrade(request);
      if (!decision.accepted) return decision.response;
      try {
        return upgradeWithDeno(request, decision.accept, {
          idleTimeout: this.options.heartbeatSeconds ?? 30,
        });
      } finally {
        decision.cancel(); // frees the slot when no socket was accepted (a no-op after accept)
      }
    }
    return await this.handleHttp(request);
  }

  /**
   * Routes a plain HTTP request (404 / 405 when nothing matches; a plain "Internal server error"
   * 500 when a handler throws, the error itself being logged).
   */
  async handleHttp(request: Request): Promise<Response> {
    this.#checkAtStart();
    const url = new URL(request.url);
    let pathMatched = false;
    for (const r of this.#http) {
      const params = r.pattern.match(url.pathname);
      if (!params) continue;
      pathMatched = true;
      if (
        r.method !== "*" && r.method !== request.method &&
        !(r.method === "GET" && request.method === "HEAD")
      ) {
        continue;
      }
      try {
        const body = await limitBody(request, r.maxBodyBytes ?? this.options.maxBodyBytes!);
        if (!body.ok) return body.response;
        return await r.handler(body.request, { params: routeParams(params), app: this });
      } catch (error) {
        return serverError(
          `HTTP handler for ${request.method} ${truncateForEcho(url.pathname)} failed`,
          error,
        );
      }
    }
    if (pathMatched) return text(405, "Method not allowed");
    if (this.#ws.some((r) => r.pattern.match(url.pathname))) {
      return text(426, "This path expects a WebSocket upgrade");
    }
    return text(404, "Not found");
  }

  /**
   * Shuts down: refuses new connections, closes every socket with 1001, waits for each
   * `onDisconnect`, then closes the process-wide layers (unless `closeLayers: false`).
   */
  async close(options: { closeLayers?: boolean } = {}): Promise<void> {
    this.#closing = true;
    try {
      const open = [...this.#connections];
      for (const c of open) c.close(CloseCode.goingAway, "Server shutting down");
      await Promise.all(open.map((c) => c.closed(CloseCode.goingAway, "Server shutting down")));
      if (options.closeLayers ?? true) await layers.closeAll();
    } finally {
      this.#closing = false;
    }
  }
}
