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
