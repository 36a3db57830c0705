/**
 * The tutorial app's settings, read from the environment once and checked at startup, so that a
 * mistake is a clear message when `deno task dev` starts, not a failure at the first connection.
 *
 * - `REDIS_URL`: `redis://[user:pass@]host:port[/db]` (or `rediss://`); unset: in-memory layers.
 * - `NATS_URL`: `nats://host:port` (or `tls://`; several comma-separated): the channel layers run
 *   on NATS, and so do the jobs (JetStream), whatever REDIS_URL says.
 * - `REDIS_CLUSTER_URLS`: comma-separated seed nodes of a Redis Cluster
 *   (`redis://10.0.0.1:7000,redis://10.0.0.2:7000`): cluster layers and jobs (sharded pub/sub,
 *   hash-tagged keys). Not together with `REDIS_URL`.
 * - `API_TOKEN`: the bearer token of the HTTP API (`POST /api/…`); unset: one is generated and
 *   printed at startup.
 * - `ALLOWED_ORIGINS`: comma-separated extra browser origins allowed to open WebSockets, on top of
 *   the page's own (`http://localhost:5173,http://192.168.1.20:8080`); `*` allows every origin.
 * - `MAX_JOBS_PER_CONNECTION`: jobs one socket may have queued or running at once (default 5).
 * - `RATE_LIMIT_PER_SECOND`: frames per second one socket may send (burst twice that); persistent
 *   abuse closes it with 1008. Unset: no rate limit.
 * - `MAX_CONNECTIONS`: sockets the process holds open at once (default 10,000); beyond it an upgrade
 *   is answered 503. Budget about `MAX_CONNECTIONS × (20 KB + 100 × 2 KB)` of memory for a full
 *   process (docs/production.md).
 * - `CHAT_HISTORY`: `on` (default) or `off`: the room chat and the showcase chat keep a history
 *   (1,000 messages, 5 minutes per room) so a client that reconnects gets what it missed
 *   (docs/recovery.md); `off` gives Chanx's frames exactly (the ported Chanx tests set it).
 */

/** A setting is wrong; the message says which and how to fix it. */
export class SettingsError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SettingsError";
  }
}

/** Values {@linkcode withSettings} sets for this module only (`undefined`: unset). */
const overrides = new Map<string, string | undefined>();

/**
 * Runs `fn` with these settings read as if they were in the environment, in this module only. For
 * tests: `Deno.env` is the whole process's, and test files running in parallel read it (a
 * `REDIS_URL` set by one test for a moment made another file's layers fail to start).
 */
export function withSettings<T>(values: Record<string, string | undefined>, fn: () => T): T {
  const saved = new Map(overrides);
  overrideSettings(values);
  try {
    return fn();
  } finally {
    overrides.clear();
    for (const [name, value] of saved) overrides.set(name, value);
  }
}

/**
 * Reads these settings as if they were in the environment, in this module only, from now on (for a
 * test process's setup: see examples/tutorial/tests/test_env.ts). {@linkcode withSettings} scopes
 * its values over these.
 */
export function overrideSettings(values: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(values)) overrides.set(name, value);
}

function env(name: string): string | undefined {
  try {
    if (overrides.has(name)) return overrides.get(name)?.trim() || undefined;
    return Deno.env.get(name)?.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** `REDIS_URL` when set, checked: a URL without a `redis://`/`rediss://` scheme throws. */
export function redisUrl(): string | undefined {
  const value = env("REDIS_URL");
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "redis:" && url.protocol !== "rediss:") || !url.hostname) {
    throw new SettingsError(
      `REDIS_URL=${JSON.stringify(value.slice(0, 200))} is not a Redis URL: ` +
        `write it with its scheme, e.g. REDIS_URL=redis://${
          /^[\w.-]+(:\d+)?$/.test(value) ? value : "localhost:6379"
        } (rediss:// for TLS), or unset it for in-memory layers`,
    );
  }
  return value;
}

/**
 * `NATS_URL` when set: its servers (comma-separated), each checked: a URL without a
 * `nats://`/`tls://` scheme throws.
 */
export function natsServers(): string[] | undefined {
  const value = env("NATS_URL");
  if (value === undefined) return undefined;
  const servers = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) {
    throw new SettingsError("NATS_URL names no server; unset it or name one");
  }
  for (const server of servers) {
    let url: URL | undefined;
    try {
      url = new URL(server);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "nats:" && url.protocol !== "tls:") || !url.hostname) {
      throw new SettingsError(
        `NATS_URL: ${JSON.stringify(server.slice(0, 200))} is not a NATS URL: write it with its ` +
          `scheme, e.g. NATS_URL=nats://${
            /^[\w.-]+(:\d+)?$/.test(server) ? server : "127.0.0.1:4222"
          } (tls:// for TLS; several comma-separated), or unset it for other layers`,
      );
    }
  }
  return servers;
}

/**
 * `REDIS_CLUSTER_URLS` when set: the seed nodes, each checked like `REDIS_URL`; throws when
 * `REDIS_URL` is set too.
 */
export function redisClusterUrls(): string[] | undefined {
  const value = env("REDIS_CLUSTER_URLS");
  if (value === undefined) return undefined;
  if (env("REDIS_URL") !== undefined) {
    throw new SettingsError(
      "Set REDIS_URL (one Redis) or REDIS_CLUSTER_URLS (a Redis Cluster's seed nodes), not both",
    );
  }
  const urls = value.split(/[\s,]+/).filter(Boolean);
  for (const text of urls) {
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "redis:" && url.protocol !== "rediss:") || !url.hostname) {
      throw new SettingsError(
        `REDIS_CLUSTER_URLS: ${JSON.stringify(text.slice(0, 200))} is not a Redis URL: list ` +
          `seed nodes with their scheme, e.g. REDIS_CLUSTER_URLS=redis://127.0.0.1:7000,redis://127.0.0.1:7001`,
      );
    }
  }
  if (urls.length === 0) throw new SettingsError("REDIS_CLUSTER_URLS lists no seed node");
  return urls;
}

/**
 * Where the tutorial's Redis is, as layer / job queue options: `{ url }` (REDIS_URL),
 * `{ cluster: { rootNodes } }` (REDIS_CLUSTER_URLS), or undefined (in memory).
 */
export function redisTarget():
  | { url: string }
  | { cluster: { rootNodes: string[] } }
  | undefined {
  const rootNodes = redisClusterUrls();
  if (rootNodes) return { cluster: { rootNodes } };
  const url = redisUrl();
  return url ? { url } : undefined;
}

let generated: string | undefined;

/** The HTTP API's bearer token: `API_TOKEN`, else one generated for this process. */
export function apiToken(): { token: string; generated: boolean } {
  const configured = env("API_TOKEN");
  if (configured !== undefined) return { token: configured, generated: false };
  generated ??= Array.from(
    crypto.getRandomValues(new Uint8Array(18)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return { token: generated, generated: true };
}

/**
 * The bearer token of `/metrics`: `METRICS_TOKEN` when set; else none while the server listens on
 * loopback (`HOST` unset, `127.0.0.1`, `::1` or `localhost`: only this machine can scrape), and the
 * API token when it listens elsewhere.
 */
export function metricsToken(): string | undefined {
  const configured = env("METRICS_TOKEN");
  if (configured !== undefined) return configured;
  const host = env("HOST") ?? "127.0.0.1";
  const loopback = host === "localhost" || host === "::1" || host === "[::1]" ||
    /^127\.\d+\.\d+\.\d+$/.test(host);
  return loopback ? undefined : apiToken().token;
}

/** The origins `ALLOWED_ORIGINS` adds (each `scheme://host[:port]`), or `"*"`. */
export function extraOrigins(): string[] | "*" {
  const value = env("ALLOWED_ORIGINS");
  if (value === undefined) return [];
  const list = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (list.includes("*")) return "*";
  for (const origin of list) {
    let ok = false;
    try {
      const url = new URL(origin);
      ok = (url.protocol === "http:" || url.protocol === "https:") && url.pathname === "/" &&
        !origin.endsWith("/");
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new SettingsError(
        `ALLOWED_ORIGINS: ${
          JSON.stringify(origin.slice(0, 200))
        } is not an origin; write scheme://host[:port] with no path, e.g. http://localhost:5173`,
      );
    }
  }
  return list;
}

/** `MAX_JOBS_PER_CONNECTION` (default 5): a positive integer. */
export function maxJobsPerConnection(): number {
  const value = env("MAX_JOBS_PER_CONNECTION");
  if (value === undefined) return 5;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new SettingsError(`MAX_JOBS_PER_CONNECTION must be a positive integer; got ${value}`);
  }
  return n;
}

/** `RATE_LIMIT_PER_SECOND` as the App's `rateLimit` option, or `undefined` when unset. */
export function rateLimit(): { perSecond: number; burst: number } | undefined {
  const value = env("RATE_LIMIT_PER_SECOND");
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new SettingsError(`RATE_LIMIT_PER_SECOND must be a positive number; got ${value}`);
  }
  return { perSecond: n, burst: 2 * n };
}

/** `MAX_CONNECTIONS` (default 10,000): a positive integer, the App's `maxConnections`. */
export function maxConnections(): number {
  const value = env("MAX_CONNECTIONS");
  if (value === undefined) return 10_000;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new SettingsError(
      `MAX_CONNECTIONS must be a positive integer (sockets open at once); got ${
        JSON.stringify(value.slice(0, 200))
      }`,
    );
  }
  return n;
}

/** The chats' history (`CHAT_HISTORY`, default on), or undefined when it is off. */
export function chatHistory(): { size: number; ttlMs: number } | undefined {
  const value = env("CHAT_HISTORY") ?? "on";
  if (value === "off") return undefined;
  if (value !== "on") {
    throw new SettingsError(
      `CHAT_HISTORY must be 'on' or 'off'; got ${JSON.stringify(value.slice(0, 200))}`,
    );
  }
  return { size: 1000, ttlMs: 300_000 };
}

/** Checks every setting (throws {@linkcode SettingsError} on the first wrong one). */
export function checkSettings(): void {
  chatHistory();
  redisUrl();
  natsServers();
  redisClusterUrls();
  extraOrigins();
  maxJobsPerConnection();
  rateLimit();
  maxConnections();
}
