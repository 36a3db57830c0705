/**
 * How the layers that cross a process (Redis, NATS) turn a {@linkcode LayerMessage} into a Redis string and back.
 *
 * By default a message is plain JSON, so processes written in other languages can read it. With
 * `encryptionKeys` each message is encrypted with AES-256-GCM (Web Crypto): the key is SHA-256 of
 * the key string, a fresh 12-byte IV is used per message, and the wire form is
 * `"sbenc1:" + base64(iv || ciphertext)`. The first key encrypts; every key is tried when
 * decrypting, so keys can be rotated by prepending a new one and dropping the old one later.
 * An encrypting serializer refuses unencrypted input.
 *
 * @module
 */
import type { LayerMessage } from "./layer.ts";
import { SerializationError } from "../errors.ts";

/** Turns layer messages into strings and back. */
export interface MessageSerializer {
  /** True when `encode`/`decode` return promises (encryption); plain JSON is synchronous. */
  readonly async: boolean;
  /**
   * Encodes a message; throws {@linkcode SerializationError} when it is not JSON. Async results
   * resolve in call order (a sender that writes when `encode` resolves keeps its order).
   */
  encode(message: LayerMessage): string | Promise<string>;
  /** Decodes a string made by `encode`; throws {@linkcode SerializationError} when it cannot. */
  decode(data: string): LayerMessage | Promise<LayerMessage>;
}

/** Marks an encrypted payload. */
export const ENCRYPTED_PREFIX = "sbenc1:";

/** Checks that `message` is an object with a string `type` (TypeError otherwise). */
export function assertLayerMessage(message: unknown): asserts message is LayerMessage {
  if (
    message === null || typeof message !== "object" || Array.isArray(message) ||
    typeof (message as { type?: unknown }).type !== "string"
  ) {
    throw new TypeError("A layer message must be an object with a string 'type'");
  }
}

function toJson(message: LayerMessage): string {
  assertLayerMessage(message);
  try {
    return JSON.stringify(message);
  } catch (error) {
    throw new SerializationError(
      `Message of type '${message.type}' cannot be encoded as JSON: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function fromJson(data: string): LayerMessage {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (error) {
    throw new SerializationError(`Layer message is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (
    value === null || typeof value !== "object" || Array.isArray(value) ||
    typeof (value as { type?: unknown }).type !== "string"
  ) {
    throw new SerializationError("Layer message is not a JSON object with a string 'type'");
  }
  return value as LayerMessage;
}

/** The default serializer: plain JSON. */
export const jsonSerializer: MessageSerializer = {
  async: false,
  encode: toJson,
  decode: fromJson,
};

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(data: string): Uint8Array<ArrayBuffer> {
  const s = atob(data);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Derives an AES-256-GCM key from a key string (SHA-256 of its UTF-8 bytes). */
export async function deriveKey(secret: string): Promise<CryptoKey> {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new TypeError("An encryption key must be a non-empty string");
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  return await crypto.subtle.importKey("raw", digest, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/**
 * A serializer that encrypts JSON with AES-GCM. `keys[0]` encrypts; all keys are tried to
 * decrypt. Throws TypeError when `keys` is not a non-empty array of non-empty strings.
 */
export function encryptedSerializer(keys: readonly string[]): MessageSerializer {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new TypeError("encryptionKeys must be a non-empty array of strings (a key list)");
  }
  for (const k of keys) {
    if (typeof k !== "string" || k.length === 0) {
      throw new TypeError("encryptionKeys must be a non-empty array of non-empty strings");
    }
  }
  const derived = Promise.all(keys.map(deriveKey));
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  async function seal(message: LayerMessage): Promise<string> {
    const json = toJson(message);
    const [key] = await derived;
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(json)),
    );
    const out = new Uint8Array(12 + sealed.length);
    out.set(iv);
    out.set(sealed, 12);
    return ENCRYPTED_PREFIX + toBase64(out);
  }
  // Encryptions run in parallel and finish in any order; their results are handed out in call
  // order, so that a sender that writes as soon as `encode` resolves keeps its order.
  let previous: Promise<unknown> = Promise.resolve();
  return {
    async: true,
    encode(message) {
      const ordered = Promise.all([seal(message), previous]).then(([body]) => body);
      previous = ordered.catch(() => {});
      return ordered;
    },
    async decode(data) {
      if (!data.startsWith(ENCRYPTED_PREFIX)) {
        throw new SerializationError(
          "Refusing an unencrypted layer message: this layer has encryptionKeys",
        );
      }
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = fromBase64(data.slice(ENCRYPTED_PREFIX.length));
      } catch (error) {
        throw new SerializationError("Encrypted layer message is not valid base64", {
          cause: error,
        });
      }
      if (bytes.length < 12 + 16) throw new SerializationError("Encrypted layer message too short");
      const iv = bytes.subarray(0, 12);
      const sealed = bytes.subarray(12);
      for (const key of await derived) {
        let clear: ArrayBuffer;
        try {
          clear = await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, sealed);
        } catch {
          continue; // wrong key (or tampered): try the next one
        }
        return fromJson(decoder.decode(clear));
      }
      throw new SerializationError(
        "Cannot decrypt layer message: no key matches (wrong key, or the message was tampered with)",
      );
    },
  };
}

/** The serializer for a layer's options: encrypted when `encryptionKeys` is given, else JSON. */
export function makeSerializer(encryptionKeys?: readonly string[]): MessageSerializer {
  return encryptionKeys === undefined ? jsonSerializer : encryptedSerializer(encryptionKeys);
}
