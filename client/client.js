// @ts-self-types="./client.d.ts"
// @ts-check
/**
 * The Switchboard client runtime: one WebSocket with typed frames, `ref`-correlated requests,
 * topic handles, reconnect with backoff, re-subscription, a bounded offline queue and clean close.
 *
 * Plain JavaScript with no imports, so browsers load this very file as an ES module; Deno and
 * bundlers get the types from `client.d.ts`. Runs on any runtime with a WHATWG-style WebSocket
 * (browsers, Deno, Node 22+); on Node 20 pass `{ WebSocket }` from the `ws` package.
 *
 * @module
 */

/** @typedef {{ action: string, payload?: unknown, version?: number, topic?: string, ref?: string, seq?: number, position?: { group?: string, offset: number, epoch: string } }} Frame */
/** @typedef {"connecting" | "open" | "reconnecting" | "closed"} ConnectionState */
/**
 * @typedef {object} SocketLike
 * @property {number} readyState
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 * @property {((ev: any) => void) | null} onopen
 * @property {((ev: any) => void) | null} onmessage
 * @property {((ev: any) => void) | null} onclose
 * @property {((ev: any) => void) | null} onerror
 */

/** The completion actions (sent when the server's completion signals are on). */
export const COMPLETION_ACTIONS = Object.freeze(["complete", "group_complete", "event_complete"]);

const OPEN = 1;

/** Base class of every error this client raises. */
export class ClientError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "ClientError";
  }
}

/** A request answered with an `error` frame carrying its `ref`. */
export class RequestError extends ClientError {
  /** @param {Frame} frame */
  constructor(frame) {
    const p = /** @type {any} */ (frame.payload);
    const text = Array.isArray(p)
      ? p.map((i) => i && typeof i === "object" ? i.msg ?? JSON.stringify(i) : String(i)).join(
        "; ",
      )
      : p && typeof p === "object"
      ? [p.reason, p.detail].filter(Boolean).join(": ")
      : JSON.stringify(p);
    super(`Server error${frame.topic ? ` on '${frame.topic}'` : ""}: ${text}`);
    this.name = "RequestError";
    /** The error frame as received. */
    this.frame = frame;
    /** Its payload: a list of `{type, loc, msg}`, `{detail}` or `{reason, detail}`. */
    this.payload = frame.payload;
    /** `reason` of a topic error (`unknown_topic`, `unauthorized`, `not_subscribed`), if any. */
    this.reason = p && typeof p === "object" && !Array.isArray(p) ? p.reason : undefined;
  }
}

/** A request got no answer in time. */
export class TimeoutError extends ClientError {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "TimeoutError";
  }
}

/** The connection dropped after a request was sent and before it was answered (it may or may not have run). */
export class ConnectionLostError extends ClientError {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "ConnectionLostError";
  }
}

/** The client was closed (by `close()` or after giving up reconnecting). */
export class ClientClosedError extends ClientError {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "ClientClosedError";
  }
}

/** The offline queue is full: the message was not queued. */
export class QueueFullError extends ClientError {
  /** @param {number} limit */
  constructor(limit) {
    super(`The offline send queue is full (${limit} frames); the message was not queued`);
    this.name = "QueueFullError";
  }
}

/**
 * Declares what a consumer's clients send (values are message types made with `message()`), for
 * `static api = clientApi({ send: [...] })`. What clients receive is not declared here: it comes
 * from the handlers' return types and the consumer's `static broadcasts`.
 * @param {{ send: readonly any[] }} api
 */
export function clientApi(api) {
  if (!api || !Array.isArray(api.send)) {
    throw new TypeError("clientApi({ send: [...] }): `send` lists the message types clients send");
  }
  if ("receive" in api) {
    throw new TypeError(
      "clientApi: `receive` is gone. Clients receive what the handlers return and what the " +
        "consumer lists in `static broadcasts = [...]` (messages it sends outside replies)",
    );
  }
  return Object.freeze({ send: Object.freeze([...api.send]) });
}

/**
 * Resolves `url` against the page in browsers (`/ws/system` → `ws://host/ws/system`, `https:` → `wss:`).
 * @param {string} url
 * @param {string | undefined} base
 */
function resolveUrl(url, base) {
  if (/^wss?:\/\//i.test(url)) return url;
  const loc = /** @type {any} */ (globalThis).location;
  const from = base ?? (loc && typeof loc.href === "string" ? loc.href : undefined);
  if (!from) {
    throw new ClientError(
      `createClient('${url}'): a relative URL needs a page (browser) or the baseUrl option`,
    );
  }
  const u = new URL(url, from);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  return u.toString();
}

/**
 * A bounded async queue behind `messages()`.
 * @template T
 */
class FrameStream {
  /**
   * @param {number} limit
   * @param {(s: FrameStream<T>) => void} onEnd
   */
  constructor(limit, onEnd) {
    /** @type {T[]} */
    this.buffer = [];
    /** @type {((r: IteratorResult<T>) => void)[]} */
    this.waiters = [];
    this.limit = limit;
    this.done = false;
    this.dropped = 0;
    this.onEnd = onEnd;
  }
  /** @param {T} value */
  push(value) {
    if (this.done) return;
    const w = this.waiters.shift();
    if (w) return w({ value, done: false });
    if (this.buffer.length >= this.limit) {
      this.buffer.shift();
      this.dropped++;
    }
    this.buffer.push(value);
  }
  end() {
    if (this.done) return;
    this.done = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
    this.onEnd(this);
  }
  /** @returns {AsyncIterableIterator<T> & { readonly dropped: number }} */
  iterator() {
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      get dropped() {
        return self.dropped;
      },
      next() {
        const value = self.buffer.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (self.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => self.waiters.push(resolve));
      },
      return() {
        self.buffer.length = 0;
        self.end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

/**
 * Listeners by action plus "any" listeners, and the message streams.
 */
class Dispatcher {
  /** @param {number} streamLimit */
  constructor(streamLimit) {
    /** @type {Map<string, Set<(m: Frame) => void>>} */
    this.byAction = new Map();
    /** @type {Set<(m: Frame) => void>} */
    this.any = new Set();
    /** @type {Set<{ actions: Set<string> | undefined, stream: FrameStream<Frame> }>} */
    this.streams = new Set();
    this.streamLimit = streamLimit;
  }
  /**
   * @param {string} action
   * @param {(m: Frame) => void} handler
   */
  on(action, handler) {
    if (typeof handler !== "function") {
      throw new TypeError("on(action, handler): handler must be a function");
    }
    let set = this.byAction.get(action);
    if (!set) this.byAction.set(action, set = new Set());
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }
  /** @param {(m: Frame) => void} handler */
  onAny(handler) {
    this.any.add(handler);
    return () => {
      this.any.delete(handler);
    };
  }
  /** @param {string[]} actions */
  messages(actions) {
    const entry = {
      actions: actions.length ? new Set(actions) : undefined,
      /** @type {FrameStream<Frame>} */
      stream: new FrameStream(this.streamLimit, () => this.streams.delete(entry)),
    };
    this.streams.add(entry);
    return entry.stream.iterator();
  }
  /**
   * @param {Frame} frame
   * @param {(error: unknown) => void} report
   */
  dispatch(frame, report) {
    for (const h of [...(this.byAction.get(frame.action) ?? []), ...this.any]) {
      try {
        h(frame);
      } catch (error) {
        report(error);
      }
    }
    for (const s of this.streams) {
      if (!s.actions || s.actions.has(frame.action)) s.stream.push(frame);
    }
  }
  end() {
    for (const s of [...this.streams]) s.stream.end();
  }
}

/**
 * @typedef {object} Pending
 * @property {string} ref
 * @property {(frame: Frame) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {ReturnType<typeof setTimeout> | undefined} timer
 * @property {boolean} sent  true once written to a socket (then a disconnect loses it)
 */

/** A subscribable topic over the client's socket. */
export class TopicHandle {
  /** @type {SwitchboardClient} */
  #client;
  /** @type {Dispatcher} */
  #dispatcher;
  #wanted = false;
  #subscribed = false;
  /** @type {(frame: Frame, options?: { timeoutMs?: number }) => Promise<Frame>} */
  #request;
  /** @type {(frame: Frame) => "sent" | "queued"} */
  #send;

  /**
   * @param {SwitchboardClient} client
   * @param {string} name
   * @param {number} streamLimit
   * @param {(frame: Frame, options?: { timeoutMs?: number }) => Promise<Frame>} request
   * @param {(frame: Frame) => "sent" | "queued"} send
   */
  constructor(client, name, streamLimit, request, send) {
    this.#client = client;
    /** The topic, e.g. `room:lobby`. */
    this.name = name;
    this.#dispatcher = new Dispatcher(streamLimit);
    this.#request = request;
    this.#send = send;
  }

  /** True while the server confirmed the subscription on the current socket. */
  get subscribed() {
    return this.#subscribed;
  }

  /** True when the client re-subscribes this topic after a reconnect. */
  get wanted() {
    return this.#wanted;
  }

  /**
   * Subscribes (resolves on `subscribed`, rejects on an error frame); re-subscribed after every reconnect.
   * @param {{ timeoutMs?: number }} [options]
   */
  async subscribe(options) {
    this.#wanted = true;
    await this.#request(
      { action: "subscribe", payload: null, version: 1, topic: this.name },
      options,
    )
      .catch((error) => {
        if (error instanceof RequestError) this.#wanted = false;
        throw error;
      });
    this.#subscribed = true;
  }

  /**
   * Unsubscribes and stops re-subscribing.
   * @param {{ timeoutMs?: number }} [options]
   */
  async unsubscribe(options) {
    this.#wanted = false;
    this.#subscribed = false;
    await this.#request(
      { action: "unsubscribe", payload: null, version: 1, topic: this.name },
      options,
    );
  }

  /** @param {Frame} message */
  send(message) {
    return this.#send({
      action: message.action,
      payload: message.payload ?? null,
      version: 1,
      topic: this.name,
    });
  }

  /**
   * @param {Frame} message
   * @param {{ timeoutMs?: number }} [options]
   */
  request(message, options) {
    return this.#request(
      { action: message.action, payload: message.payload ?? null, version: 1, topic: this.name },
      options,
    );
  }

  /**
   * @param {string} action
   * @param {(m: any) => void} handler
   */
  on(action, handler) {
    return this.#dispatcher.on(action, handler);
  }

  /** @param {(m: any) => void} handler */
  onAny(handler) {
    return this.#dispatcher.onAny(handler);
  }

  /** @param {string[]} actions */
  messages(...actions) {
    return this.#dispatcher.messages(actions);
  }

  /** The client this topic belongs to. */
  get client() {
    return this.#client;
  }

  /** @internal @param {Frame} frame @param {(e: unknown) => void} report */
  _dispatch(frame, report) {
    if (frame.action === "subscribed") this.#subscribed = true;
    if (frame.action === "unsubscribed") this.#subscribed = false;
    this.#dispatcher.dispatch(frame, report);
  }

  /** @internal */
  _disconnected() {
    this.#subscribed = false;
  }

  /** @internal */
  _end() {
    this.#wanted = false;
    this.#subscribed = false;
    this.#dispatcher.end();
  }
}

const DEFAULT_RECONNECT = Object.freeze({
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: true,
  maxAttempts: Infinity,
});

/** A typed WebSocket client for one Switchboard endpoint. Make it with {@linkcode createClient}. */
export class SwitchboardClient {
  /** @type {SocketLike | undefined} */
  #ws;
  /** @type {ConnectionState} */
  #state = "connecting";
  /** @type {{ text: string, ref?: string }[]} */
  #queue = [];
  /** @type {Map<string, Pending>} */
  #pending = new Map();
  /** @type {Map<string, TopicHandle>} */
  #topics = new Map();
  #dispatcher;
  /** @type {Set<(state: ConnectionState, info: { attempt: number, delayMs?: number, code?: number, reason?: string }) => void>} */
  #stateListeners = new Set();
  /** @type {Set<(info: { reconnected: boolean }) => void>} */
  #openListeners = new Set();
  /** @type {Set<(error: unknown) => void>} */
  #errorListeners = new Set();
  #attempt = 0;
  #opens = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #retryTimer;
  #nextRef = 0;
  /** @type {Promise<void> | undefined} */
  #closing;
  /** @type {(() => void) | undefined} */
  #socketClosed;
  #options;
  #reconnect;
  /** History positions seen, by group and by topic (sent back on reconnect: docs/recovery.md). */
  #positions = { groups: new Map(), topics: new Map() };
  /** @type {Set<(outcome: any) => void>} */
  #recoveryListeners = new Set();

  /**
   * @param {string} url
   * @param {any} [options]
   */
  constructor(url, options = {}) {
    this.#options = options;
    /** The resolved `ws://`/`wss://` URL. */
    this.url = resolveUrl(url, options.baseUrl);
    this.#reconnect = options.reconnect === false
      ? undefined
      : { ...DEFAULT_RECONNECT, ...(options.reconnect ?? {}) };
    this.#dispatcher = new Dispatcher(options.maxBufferedMessages ?? 1000);
    if (!options.createSocket) {
      const Ctor = options.WebSocket ?? /** @type {any} */ (globalThis).WebSocket;
      if (typeof Ctor !== "function") {
        throw new ClientError(
          "No WebSocket implementation: this runtime has no global WebSocket (Node 20). " +
            'Pass one: createClient(url, { WebSocket }) with `import { WebSocket } from "ws"`.',
        );
      }
      if (options.headers && !options.WebSocket && !(/** @type {any} */ (globalThis).Deno)) {
        throw new ClientError(
          "Browsers cannot set WebSocket headers: authenticate with a cookie or a query parameter instead",
        );
      }
    }
    if (options.autoConnect !== false) this.#connect();
    else this.#state = "closed";
  }

  /** `connecting`, `open`, `reconnecting` (waiting for the next attempt) or `closed`. */
  get state() {
    return this.#state;
  }

  /** Frames waiting in the offline queue. */
  get queued() {
    return this.#queue.length;
  }

  /** Connection attempts since the last successful open. */
  get attempt() {
    return this.#attempt;
  }

  /** Requests waiting for their answer. */
  get pendingRequests() {
    return this.#pending.size;
  }

  // ---- connection ---------------------------------------------------------------------

  /** @returns {SocketLike} */
  #createSocket() {
    const o = this.#options;
    const url = this.#recoverUrl();
    if (o.createSocket) return o.createSocket(url, o.protocols);
    const Ctor = o.WebSocket ?? /** @type {any} */ (globalThis).WebSocket;
    if (!o.headers) return new Ctor(url, o.protocols);
    // Deno's WebSocket takes {protocols, headers}; `ws` takes (url, protocols, {headers}).
    if (!o.WebSocket && /** @type {any} */ (globalThis).Deno) {
      return new Ctor(url, { protocols: o.protocols, headers: o.headers });
    }
    return new Ctor(url, o.protocols ?? [], { headers: o.headers });
  }

  // ---- history positions (docs/recovery.md) ---------------------------------------------

  /** The URL with the `recover` parameter when history positions were seen (else `url`). */
  #recoverUrl() {
    const { groups, topics } = this.#positions;
    if (this.#options.recover === false || groups.size + topics.size === 0) return this.url;
    const value = JSON.stringify({
      groups: Object.fromEntries(groups),
      topics: Object.fromEntries(topics),
    });
    return `${this.url}${this.url.includes("?") ? "&" : "?"}recover=${encodeURIComponent(value)}`;
  }

  /**
   * Remembers the history position a frame carries (at most 100 streams, the least recent
   * forgotten) and tells `onRecovery` listeners the outcome of a recovery.
   * @param {Frame} frame
   */
  #track(frame) {
    const payload = /** @type {any} */ (frame.payload);
    const history = frame.action === "history_position" || frame.action === "history_recovery";
    const position = /** @type {any} */ (history ? payload?.position : frame.position);
    const group = history ? payload?.group : position?.group;
    if (position && typeof position.offset === "number" && typeof position.epoch === "string") {
      const map = typeof frame.topic === "string"
        ? this.#positions.topics
        : typeof group === "string"
        ? this.#positions.groups
        : undefined;
      const key = typeof frame.topic === "string" ? frame.topic : group;
      if (map) {
        map.delete(key);
        map.set(key, { offset: position.offset, epoch: position.epoch });
        if (map.size > 100) map.delete(map.keys().next().value);
      }
    }
    if (frame.action !== "history_recovery") return;
    const outcome = { ...payload };
    if (typeof frame.topic === "string") outcome.topic = frame.topic;
    for (const l of [...this.#recoveryListeners]) {
      try {
        l(outcome);
      } catch (error) {
        this.#report(error);
      }
    }
  }

  /** The last history positions seen, by group and by topic (what a reconnect sends). */
  get positions() {
    return {
      groups: Object.fromEntries(this.#positions.groups),
      topics: Object.fromEntries(this.#positions.topics),
    };
  }

  /**
   * Calls `handler` with the outcome of each recovery (`{group | topic, recovered, reason?,
   * replayed?, position}`), after a reconnect and whenever the server could not fill a gap.
   * @param {(outcome: any) => void} handler
   */
  onRecovery(handler) {
    this.#recoveryListeners.add(handler);
    return () => {
      this.#recoveryListeners.delete(handler);
    };
  }

  #connect() {
    // A retry stays `reconnecting` (announced once, with its delay, when it was scheduled).
    const retry = this.#opens > 0 || this.#state === "reconnecting";
    this.#setState(retry ? "reconnecting" : "connecting", { attempt: this.#attempt });
    this.#attempt++;
    /** @type {SocketLike} */
    let ws;
    try {
      ws = this.#createSocket();
    } catch (error) {
      this.#report(error);
      this.#scheduleReconnect(1006, String(error));
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      const reconnected = this.#opens > 0;
      this.#opens++;
      this.#attempt = 0;
      this.#setState("open", { attempt: 0 });
      // Re-subscribe first, so queued topic frames land on live subscriptions.
      for (const t of this.#topics.values()) {
        if (reconnected && t.wanted) {
          t.subscribe({ timeoutMs: this.#options.requestTimeoutMs }).catch((error) =>
            this.#report(error)
          );
        }
      }
      this.#flush();
      for (const l of [...this.#openListeners]) {
        try {
          l({ reconnected });
        } catch (error) {
          this.#report(error);
        }
      }
    };
    ws.onmessage = (/** @type {{ data: unknown }} */ ev) => {
      if (this.#ws !== ws) return;
      this.#receive(ev.data);
    };
    ws.onerror = () => {}; // a close event follows
    ws.onclose = (/** @type {{ code?: number, reason?: string }} */ ev) => {
      if (this.#ws === ws) this.#ws = undefined;
      this.#lost(ev?.code ?? 1006, ev?.reason ?? "");
    };
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #lost(code, reason) {
    for (const t of this.#topics.values()) t._disconnected();
    // Frames sent on the dead socket are lost; their requests cannot be answered.
    for (const p of [...this.#pending.values()]) {
      if (p.sent) {
        this.#settle(p.ref);
        p.reject(new ConnectionLostError(`The connection closed (${code}) before the reply`));
      }
    }
    if (this.#closing) {
      this.#socketClosed?.();
      return;
    }
    this.#scheduleReconnect(code, reason);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #scheduleReconnect(code, reason) {
    const r = this.#reconnect;
    const giveUp = !r || this.#attempt >= r.maxAttempts ||
      (this.#options.shouldReconnect && !this.#options.shouldReconnect({ code, reason }));
    if (giveUp) {
      this.#shutdown(
        new ClientClosedError(
          `The connection closed (${code}${
            reason ? ` ${reason}` : ""
          }) and the client stopped reconnecting`,
        ),
      );
      this.#setState("closed", { attempt: this.#attempt, code, reason });
      return;
    }
    const base = Math.min(
      r.maxDelayMs,
      r.initialDelayMs * Math.pow(r.factor, Math.max(0, this.#attempt - 1)),
    );
    const delayMs = Math.round(r.jitter ? base / 2 + Math.random() * base / 2 : base);
    this.#setState("reconnecting", { attempt: this.#attempt, delayMs, code, reason }, true);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#closing && this.#state !== "closed") this.#connect();
    }, delayMs);
  }

  /**
   * @param {ConnectionState} state
   * @param {{ attempt: number, delayMs?: number, code?: number, reason?: string }} info
   * @param {boolean} [always] announce even without a change (each scheduled reconnect)
   */
  #setState(state, info, always = false) {
    const changed = this.#state !== state;
    this.#state = state;
    if (!changed && !always) return;
    for (const l of [...this.#stateListeners]) {
      try {
        l(state, info);
      } catch (error) {
        this.#report(error);
      }
    }
  }

  /** @param {unknown} error */
  #report(error) {
    if (this.#errorListeners.size === 0) {
      console.error("switchboard client:", error);
      return;
    }
    for (const l of [...this.#errorListeners]) {
      try {
        l(error);
      } catch {
        // a failing error listener has nowhere else to go
      }
    }
  }

  // ---- receiving ----------------------------------------------------------------------

  /** @param {unknown} data */
  #receive(data) {
    if (typeof data !== "string") {
      this.#report(new ClientError("Ignored a binary frame: Switchboard speaks JSON text"));
      return;
    }
    /** @type {Frame} */
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      this.#report(new ClientError(`Ignored a frame that is not JSON: ${data.slice(0, 80)}`));
      return;
    }
    if (!frame || typeof frame !== "object" || typeof frame.action !== "string") {
      this.#report(new ClientError(`Ignored a frame without an action: ${data.slice(0, 80)}`));
      return;
    }
    if (typeof frame.ref === "string") {
      const p = this.#pending.get(frame.ref);
      if (p) {
        this.#settle(p.ref);
        if (frame.action === "error") p.reject(new RequestError(frame));
        else p.resolve(frame);
      }
    }
    this.#track(frame);
    const report = (/** @type {unknown} */ e) => this.#report(e);
    if (typeof frame.topic === "string") {
      const t = this.#topics.get(frame.topic);
      if (t) t._dispatch(frame, report);
      return;
    }
    this.#dispatcher.dispatch(frame, report);
  }

  // ---- sending ------------------------------------------------------------------------

  /**
   * @param {Frame} frame
   * @returns {string}
   */
  #encode(frame) {
    /** @type {Record<string, unknown>} */
    const body = { action: frame.action, payload: frame.payload ?? null };
    if (frame.version !== undefined) body.version = frame.version;
    if (frame.topic !== undefined) body.topic = frame.topic;
    if (frame.ref !== undefined) body.ref = frame.ref;
    return JSON.stringify(body);
  }

  /**
   * @param {string} text
   * @param {string | undefined} ref
   * @returns {"sent" | "queued"}
   */
  #write(text, ref) {
    if (this.#closing || this.#state === "closed") {
      throw new ClientClosedError("The client is closed");
    }
    const ws = this.#ws;
    if (ws && ws.readyState === OPEN && this.#state === "open") {
      ws.send(text);
      if (ref) {
        const p = this.#pending.get(ref);
        if (p) p.sent = true;
      }
      return "sent";
    }
    const limit = this.#options.maxQueue ?? 100;
    if (this.#queue.length >= limit) throw new QueueFullError(limit);
    this.#queue.push({ text, ref });
    return "queued";
  }

  #flush() {
    const queue = this.#queue.splice(0);
    for (let i = 0; i < queue.length; i++) {
      const ws = this.#ws;
      if (!ws || ws.readyState !== OPEN) {
        this.#queue.unshift(...queue.slice(i));
        return;
      }
      ws.send(queue[i].text);
      const ref = queue[i].ref;
      if (ref) {
        const p = this.#pending.get(ref);
        if (p) p.sent = true;
      }
    }
  }

  /** @param {string} ref */
  #settle(ref) {
    const p = this.#pending.get(ref);
    if (!p) return;
    this.#pending.delete(ref);
    clearTimeout(p.timer);
    const i = this.#queue.findIndex((q) => q.ref === ref);
    if (i !== -1) this.#queue.splice(i, 1);
  }

  /**
   * Sends a message now, or queues it while (re)connecting.
   * @param {Frame} message
   * @returns {"sent" | "queued"}
   */
  send(message) {
    if (!message || typeof message.action !== "string") {
      throw new TypeError("send() takes a message {action, payload}");
    }
    return this.#write(
      this.#encode({ action: message.action, payload: message.payload }),
      undefined,
    );
  }

  /**
   * Sends a message with a fresh `ref` and resolves with the server's frame echoing it: the
   * handler's reply, or `complete` when it replied nothing. Rejects with `RequestError` on an
   * error frame, `TimeoutError`, `ConnectionLostError` or `ClientClosedError`.
   * @param {Frame} message
   * @param {{ timeoutMs?: number, signal?: AbortSignal }} [options]
   * @returns {Promise<Frame>}
   */
  request(message, options = {}) {
    if (!message || typeof message.action !== "string") {
      return Promise.reject(new TypeError("request() takes a message {action, payload}"));
    }
    return this.#request({ action: message.action, payload: message.payload }, options);
  }

  /**
   * @param {Frame} frame
   * @param {{ timeoutMs?: number, signal?: AbortSignal }} [options]
   * @returns {Promise<Frame>}
   */
  #request(frame, options = {}) {
    const ref = `${++this.#nextRef}`;
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const p = { ref, resolve, reject, timer: undefined, sent: false };
      this.#pending.set(ref, p);
      if (options.signal) {
        const signal = options.signal;
        if (signal.aborted) {
          this.#settle(ref);
          return reject(signal.reason);
        }
        signal.addEventListener("abort", () => {
          if (!this.#pending.has(ref)) return;
          this.#settle(ref);
          reject(signal.reason);
        }, { once: true });
      }
      p.timer = setTimeout(() => {
        this.#settle(ref);
        reject(
          new TimeoutError(
            `No reply to '${frame.action}'${
              frame.topic ? ` on '${frame.topic}'` : ""
            } within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      try {
        this.#write(this.#encode({ ...frame, ref }), ref);
      } catch (error) {
        this.#settle(ref);
        reject(error);
      }
    });
  }

  // ---- presence (docs/presence.md) -----------------------------------------------------

  /**
   * Who is in `group` (one the connection is in; default: the first it is tracked in): the server's `presence` reply payload
   * `{group, entries, stats, truncated}`. `diffs: true` also starts its `presence_diff` frames.
   * @param {string | undefined} [group]
   * @param {{ diffs?: boolean, limit?: number, timeoutMs?: number, signal?: AbortSignal }} [options]
   */
  async presence(group, options = {}) {
    /** @type {Record<string, unknown>} */
    const payload = {};
    if (group !== undefined) payload.group = group;
    if (options.diffs !== undefined) payload.diffs = options.diffs;
    if (options.limit !== undefined) payload.limit = options.limit;
    const reply = await this.#request({ action: "presence", payload }, options);
    return reply.payload;
  }

  /**
   * Calls `handler` with each presence diff `{group, joins, leaves, resync?}` (apply leaves,
   * then joins: see `applyPresenceDiff`). Returns an unsubscribe function.
   * @param {(diff: any) => void} handler
   */
  onPresence(handler) {
    return this.#dispatcher.on("presence_diff", (/** @type {Frame} */ m) => handler(m.payload));
  }

  // ---- listening ----------------------------------------------------------------------

  /**
   * Calls `handler` for every frame of `action` (frames without a topic). Returns an unsubscribe function.
   * @param {string} action
   * @param {(m: any) => void} handler
   */
  on(action, handler) {
    return this.#dispatcher.on(action, handler);
  }

  /** @param {(m: any) => void} handler */
  onAny(handler) {
    return this.#dispatcher.onAny(handler);
  }

  /** @param {(state: ConnectionState, info: any) => void} handler */
  onState(handler) {
    this.#stateListeners.add(handler);
    return () => {
      this.#stateListeners.delete(handler);
    };
  }

  /** @param {(info: { reconnected: boolean }) => void} handler */
  onOpen(handler) {
    this.#openListeners.add(handler);
    return () => {
      this.#openListeners.delete(handler);
    };
  }

  /** @param {(error: unknown) => void} handler */
  onError(handler) {
    this.#errorListeners.add(handler);
    return () => {
      this.#errorListeners.delete(handler);
    };
  }

  /**
   * An async iterator over frames without a topic (of `actions`, or all). Bounded: when the
   * reader falls behind by `maxBufferedMessages`, the oldest are dropped (`dropped` counts them).
   * @param {string[]} actions
   */
  messages(...actions) {
    return this.#dispatcher.messages(actions);
  }

  [Symbol.asyncIterator]() {
    return this.messages();
  }

  /**
   * Resolves once the socket is open (now, if it is).
   * @param {{ timeoutMs?: number }} [options]
   * @returns {Promise<void>}
   */
  opened(options = {}) {
    if (this.#state === "open") return Promise.resolve();
    if (this.#state === "closed") {
      return Promise.reject(new ClientClosedError("The client is closed"));
    }
    return new Promise((resolve, reject) => {
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      let timer;
      const offOpen = this.onOpen(() => done(undefined));
      const offState = this.onState((s) => {
        if (s === "closed") done(new ClientClosedError("The client is closed"));
      });
      /** @param {Error | undefined} error */
      const done = (error) => {
        clearTimeout(timer);
        offOpen();
        offState();
        if (error) reject(error);
        else resolve();
      };
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(
          () => done(new TimeoutError(`Not connected within ${options.timeoutMs} ms`)),
          options.timeoutMs,
        );
      }
    });
  }

  /**
   * A topic on this socket (`room:lobby`); the same handle for the same name.
   * @param {string} name
   */
  topic(name) {
    if (typeof name !== "string" || !name) {
      throw new TypeError("topic(name): name must be a non-empty string");
    }
    let t = this.#topics.get(name);
    if (!t) {
      t = new TopicHandle(
        this,
        name,
        this.#options.maxBufferedMessages ?? 1000,
        (frame, options) => this.#request(frame, options),
        (frame) => this.#write(this.#encode(frame), undefined),
      );
      this.#topics.set(name, t);
    }
    return t;
  }

  /** Opens the socket of a client made with `autoConnect: false` (or reopens a closed one). */
  connect() {
    if (this.#closing) throw new ClientClosedError("The client is closing");
    if (this.#state !== "closed") return;
    this.#attempt = 0;
    this.#connect();
  }

  /** @param {Error} error */
  #shutdown(error) {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const p of [...this.#pending.values()]) {
      this.#settle(p.ref);
      p.reject(error);
    }
    this.#queue.length = 0;
  }

  /**
   * Closes the socket and stops reconnecting: pending requests reject with `ClientClosedError`,
   * queued frames are dropped, iterators end. Resolves once the socket is closed.
   * @param {number} [code]
   * @param {string} [reason]
   * @returns {Promise<void>}
   */
  close(code = 1000, reason = "") {
    if (this.#closing) return this.#closing;
    this.#shutdown(new ClientClosedError("The client was closed"));
    const ws = this.#ws;
    this.#closing = new Promise((/** @type {(v?: void) => void} */ resolve) => {
      if (!ws || ws.readyState === 3 /* CLOSED */) return resolve();
      this.#socketClosed = resolve;
      try {
        ws.close(code, reason);
      } catch {
        resolve();
      }
    }).then(() => {
      this.#ws = undefined;
      this.#dispatcher.end();
      for (const t of this.#topics.values()) t._end();
      this.#setState("closed", { attempt: this.#attempt, code, reason });
    });
    return this.#closing;
  }

  /** `await using client = createClient(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose]() {
    return this.close();
  }
}

/**
 * Applies a presence diff to a presence list (key → metas), in place: leaves first, then joins.
 * Returns `entries`; a `resync` diff changes nothing (fetch the list again with `presence()`).
 * @param {Record<string, unknown[]>} entries
 * @param {{ joins: Record<string, unknown[]>, leaves: Record<string, unknown[]>, resync?: boolean }} diff
 */
export function applyPresenceDiff(entries, diff) {
  if (diff.resync) return entries;
  for (const key of Object.keys(diff.leaves)) delete entries[key];
  for (const [key, metas] of Object.entries(diff.joins)) entries[key] = metas;
  return entries;
}

/**
 * Connects to a Switchboard endpoint.
 * @param {string} url
 * @param {any} [options]
 */
export function createClient(url, options) {
  return new SwitchboardClient(url, options);
}
