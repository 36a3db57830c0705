/**
 * Presence backends by alias, like channel layers: `presenceBackends.register("default",
 * new RedisPresence({url}))` at startup; a consumer's `static presence = {backend: "chat"}` picks
 * one (default `"default"`, an {@linkcode InMemoryPresence} made on first use).
 *
 * @module
 */
import { LayerNotFoundError } from "../errors.ts";
import type { PresenceBackend } from "./backend.ts";
import { InMemoryPresence } from "./memory.ts";

/** The alias used when a consumer names no presence backend. */
export const DEFAULT_PRESENCE = "default";

/** Alias → presence backend. */
export class PresenceRegistry {
  readonly #backends = new Map<string, PresenceBackend>();

  /** Registers `backend` under `alias`, replacing (not closing) any previous one. */
  register(alias: string, backend: PresenceBackend): this {
    this.#backends.set(alias, backend);
    return this;
  }

  /** The backend of `alias`; `default` is made (in memory) on first use. */
  get(alias: string = DEFAULT_PRESENCE): PresenceBackend {
    let backend = this.#backends.get(alias);
    if (!backend && alias === DEFAULT_PRESENCE) {
      this.#backends.set(alias, backend = new InMemoryPresence());
    }
    if (!backend) {
      throw new LayerNotFoundError(
        `No presence backend is registered under '${alias}' (registered: ${
          [...this.#backends.keys()].map((a) => `'${a}'`).join(", ") || "none"
        }). Call presenceBackends.register('${alias}', backend) at startup.`,
      );
    }
    return backend;
  }

  /** Removes `alias` without closing its backend; returns it. */
  unregister(alias: string): PresenceBackend | undefined {
    const backend = this.#backends.get(alias);
    this.#backends.delete(alias);
    return backend;
  }

  /** Closes and forgets every backend. */
  async closeAll(): Promise<void> {
    const all = [...new Set(this.#backends.values())];
    this.#backends.clear();
    await Promise.all(all.map((b) => b.close()));
  }
}

/** The process-wide presence registry. */
export const presenceBackends: PresenceRegistry = new PresenceRegistry();
