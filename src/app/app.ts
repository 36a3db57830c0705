/**
 * The App: WebSocket routes to consumers, plain HTTP routes to handlers, one `fetch`, and clean
 * shutdown. Runtime-neutral: it never names a runtime. `App.upgrade` decides an upgrade (the
 * checks, connection slots, routing and authentication are in ./upgrade.ts); a runtime adapter
 * completes it (the seam: src/runtime/seam.ts). `fetch` completes upgrades with the
 * {@linkcode RuntimeUpgrader} given to the constructor, or answers them with 501 without one: the
 * `App` of the main entry point (mod.ts) is adapters/deno's, wired to Deno's `upgradeWebSocket`,
 * so that Deno's `serve` of `new App().fetch` serves WebSockets; on Node, adapters/node calls
 * `upgrade` itself.
 *
 * @module
 */
import { markKeptByRuntime } from "../connection/kept_request.ts";
import { Connection, type ConnectionSettings } from "../connection/connection.ts";
import type { ConsumerClass, ParamsOf } from "../consumer/consumer.ts";
import { CloseCode } from "../protocol/close_codes.ts";
import { DefinitionError, type LayerNotFoundError } from "../errors.ts";
import { checkHandlers } from "../consumer/handlers.ts";
import { layers } from "../layers/registry.ts";
import { getLogger } from "../logger.ts";
import type { ConnectionObserver } from "../observe/hooks.ts";
import { routeParams } from "../consumer/params.ts";
import { compilePath, type PathParams, type PathPattern } from "./route.ts";
import { truncateForEcho } from "../protocol/truncate.ts";
import { heartbeatSeconds } from "../runtime/heartbeat.ts";
import { type RuntimeUpgrader, type UpgradeDecision, upgradeUnsupported } from "../runtime/seam.ts";
import { limitBody } from "./http_body.ts";
import { compileOriginRule, type OriginCheck } from "./origin.ts";
import { type AppOptions, withDefaults } from "./options.ts";
import { serverError, text } from "./responses.ts";
import {
  checkTopics,
  type Connect,
  connectionSettings,
  ConnectionSlots,
  decideUpgrade,
  missingLayer,
  refused,
} from "./upgrade.ts";

export type { AppOptions } from "./options.ts";
export type { UpgradeDecision } from "../runtime/seam.ts";

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

let checkAtStartOf: (app: App) => void;
let observeOf: (app: App, observer: ConnectionObserver | undefined) => void;

/**
 * Logs the app's configuration problems (`Misconfigured app: …`) once, as its first request
 * would: servers call it when they start. Not part of the public API (mod.ts does not export it).
 */
export function checkAppAtStart(app: App): void {
  checkAtStartOf(app);
}

/**
 * Sets who the connections `app` accepts from now on report to (`mountMetrics`,
 * `mountInspector`); `undefined` stops it. Not part of the public API (mod.ts does not export it).
 */
export function observeApp(app: App, observer: ConnectionObserver | undefined): void {
  observeOf(app, observer);
}

/** A Switchboard application. */
export class App {
  /** Options as given. */
  readonly options: Readonly<AppOptions>;
  readonly #ws: MountedWsRoute[] = [];
  readonly #http: HttpRoute[] = [];
  readonly #slots: ConnectionSlots;
  #closing = false;
  #startChecked = false;
  readonly #origin: OriginCheck;
  readonly #upgrader: RuntimeUpgrader | undefined;
  #observer: ConnectionObserver | undefined;
  #settings: ConnectionSettings | undefined;

  /**
   * Creates an app. `upgrader` completes the upgrades `fetch` accepts (adapters/deno's
   * `upgradeWithDeno`, which the main entry point's `App` passes); without it `fetch` answers
   * upgrades with 501 and an adapter calls {@linkcode App.upgrade} itself (adapters/node).
   */
  constructor(options: AppOptions = {}, upgrader?: RuntimeUpgrader) {
    this.options = withDefaults(options);
    this.#slots = new ConnectionSlots(this.options.maxConnections);
    this.#upgrader = upgrader;
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

  static {
    checkAtStartOf = (app) => app.#checkAtStart();
    observeOf = (app, observer) => app.#observer = observer;
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
    return this.#slots.open.size;
  }

  /**
   * Decides an upgrade request: route, then `authenticate` — all before any socket exists.
   * Runtime adapters call this, then upgrade and `accept(socket)`.
   */
  upgrade(request: Request): Promise<UpgradeDecision> {
    // Not an async function: an upgrade whose `authenticate` answers at once (the default one
    // does) is decided without a promise hop, so connecting leaves less garbage per socket.
    try {
      this.#checkAtStart();
      if (this.#closing) return refused(text(503, "Server is shutting down"));
      const url = new URL(request.url);
      const refusal = this.checkOrigin(request);
      if (refusal !== undefined) {
        getLogger().warn(`Refused a WebSocket to ${url.pathname}: ${refusal}`);
        return refused(text(403, refusal));
      }
      return this.#slots.admit(() => decideUpgrade(this.#ws, request, url, this.#connect));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** What an accepted upgrade's `accept` runs: the connection, counted as open. */
  readonly #connect: Connect = (consumer, request, params, socket) => {
    const connection = new Connection(
      consumer,
      request,
      params,
      socket,
      this.#connectionSettings(),
    );
    this.#slots.open.add(connection);
    return connection;
  };

  /**
   * The settings every connection shares (one object, not one per connection), made again when
   * the observer changes (metrics mounted after the first connection).
   */
  #connectionSettings(): ConnectionSettings {
    const cached = this.#settings;
    if (cached && cached.observer === this.#observer) return cached;
    return this.#settings = connectionSettings(
      this.options,
      (c) => this.#slots.open.delete(c),
      this.#observer,
    );
  }

  /**
   * Why `request`'s `Origin` would be refused by `allowedOrigins`, or `undefined` when it is
   * allowed or absent. Upgrades use it; a page can ask through an HTTP route to explain a refusal.
   */
  checkOrigin(request: Request): string | undefined {
    const origin = request.headers.get("origin");
    return origin === null ? undefined : this.#origin(origin, request);
  }

  /**
   * Handles a request: WebSocket upgrades (completed by the runtime upgrader: on Deno with the
   * main entry point's `App`; 501 without one) and HTTP routes. Pass it to Deno's `serve`.
   */
  fetch(request: Request): Promise<Response> {
    try {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return this.handleHttp(request);
      }
      // The runtime upgrader (Deno's) keeps the request after the upgrade.
      if (this.#upgrader) markKeptByRuntime(request);
      // A promise callback, not an async function's frame: kept short-lived per upgrade.
      return this.upgrade(request).then((decision) => this.#completeUpgrade(request, decision));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Completes a decided upgrade with the runtime upgrader (501 without one). */
  #completeUpgrade(request: Request, decision: UpgradeDecision): Response {
    if (!decision.accepted) return decision.response;
    try {
      const upgrade = this.#upgrader ?? upgradeUnsupported;
      return upgrade(request, decision.accept, {
        heartbeatSeconds: heartbeatSeconds(this.options),
      });
    } finally {
      decision.cancel(); // frees the slot when no socket was accepted (a no-op after accept)
    }
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
      const open = [...this.#slots.open];
      for (const c of open) c.close(CloseCode.goingAway, "Server shutting down");
      await Promise.all(open.map((c) => c.closed(CloseCode.goingAway, "Server shutting down")));
      if (options.closeLayers ?? true) await layers.closeAll();
    } finally {
      this.#closing = false;
    }
  }
}
