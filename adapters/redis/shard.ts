/**
 * Stable sharding of channel and group names over several Redis hosts.
 *
 * The function is the one channels_redis calls `consistent_hash`: `crc32(utf8(name)) & 0xFFF`
 * bucketed into `hosts` equal ranges, so a TypeScript and a Python process pick the same host.
 *
 * @module
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

const encoder = new TextEncoder();

/** CRC-32 (IEEE 802.3, as zlib's `crc32`) of a string's UTF-8 bytes or of raw bytes. */
export function crc32(value: string | Uint8Array): number {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  let crc = 0xffffffff;
  for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The shard index (`0 <= index < ringSize`) of `value`: `0` for one host, otherwise
 * `floor((crc32(value) & 0xFFF) / (4096 / ringSize))`. Stable across processes and languages.
 */
export function consistentHash(value: string | Uint8Array, ringSize: number): number {
  if (!Number.isInteger(ringSize) || ringSize < 1) {
    throw new RangeError(`ringSize must be a positive integer, got ${ringSize}`);
  }
  if (ringSize === 1) return 0;
  const bucket = crc32(value) & 0xfff;
  return Math.floor(bucket / (4096 / ringSize));
}

/** What {@linkcode hostIdentity} reads from a node-redis client (its `options`). */
interface ClientWithOptions {
  options?: {
    url?: string;
    database?: number;
    socket?: { host?: string; port?: number; path?: string; tls?: unknown };
  };
}

/**
 * The identity of a Redis host that does not depend on where it appears in a host list:
 * `redis://host:port/db` (lower-case host, default port 6379, default db 0; user name and
 * password left out) or `unix:/path/db`. For a node-redis client it is read from the client's
 * options. Throws a `TypeError` when neither gives an address.
 */
export function hostIdentity(host: string | object): string {
  if (typeof host === "string") return urlIdentity(host);
  const options = (host as ClientWithOptions).options;
  if (options?.url) return urlIdentity(options.url, options.database);
  const socket = options?.socket;
  const db = options?.database ?? 0;
  if (socket?.path) return `unix:${socket.path}/${db}`;
  const scheme = socket?.tls ? "rediss" : "redis";
  return `${scheme}://${(socket?.host ?? "localhost").toLowerCase()}:${socket?.port ?? 6379}/${db}`;
}

function urlIdentity(url: string, database?: number): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Not a Redis URL: ${JSON.stringify(url)}`);
  }
  const scheme = parsed.protocol.replace(/:$/, "");
  const path = parsed.pathname.replace(/^\/+/, "");
  const db = database ?? (path ? Number(path) : Number(parsed.searchParams.get("db") ?? 0));
  const hostname = parsed.hostname.toLowerCase();
  if (scheme === "unix" || (!hostname && path)) return `unix:${parsed.pathname}/0`;
  return `${scheme}://${hostname || "localhost"}:${parsed.port || 6379}/${
    Number.isFinite(db) ? db : 0
  }`;
}

/**
 * Sorts hosts by {@linkcode hostIdentity}, so that processes configured with the same hosts in
 * a different order put every name on the same host. Throws a `TypeError` when two entries are
 * the same host.
 */
export function orderHosts<T extends string | object>(hosts: readonly T[]): T[] {
  if (hosts.length === 1) return [...hosts];
  const keyed = hosts.map((host) => ({ host, id: hostIdentity(host) }));
  keyed.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < keyed.length; i++) {
    if (keyed[i].id === keyed[i - 1].id) {
      throw new TypeError(`The Redis host ${keyed[i].id} is listed twice in hosts`);
    }
  }
  return keyed.map((k) => k.host);
}
