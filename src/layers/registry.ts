/**
 * Layers registered by alias. Consumers name their layer (`static layer = "chat"`); static
 * `sendEvent` / `broadcastEvent` find it here from any code in the process.
 *
 * @module
 */
import { LayerNotFoundError } from "../errors.ts";
import type { ChannelLayer } from "./layer.ts";

/** The alias used when a consumer names no layer. */
export const DEFAULT_LAYER = "default";

/** A factory that makes the layer for an alias the first time it is needed. */
export type LayerFactory = () => ChannelLayer;

/**
 * Alias → layer. The `default` alias makes an in-memory layer on first use unless something else
 * was registered under it (see {@linkcode LayerRegistry.setDefaultFactory}).
 */
export class LayerRegistry {
  #layers = new Map<string, ChannelLayer>();
  #factories = new Map<string, LayerFactory>();

  /** Registers `layer` under `alias`, replacing (not closing) any previous one. */
  register(alias: string, layer: ChannelLayer | LayerFactory): this {
    if (typeof layer === "function") {
      this.#layers.delete(alias);
      this.#factories.set(alias, layer);
    } else {
      this.#factories.delete(alias);
      this.#layers.set(alias, layer);
    }
    return this;
  }

  /** True when something is registered under `alias`. */
  has(alias: string): boolean {
    return this.#layers.has(alias) || this.#factories.has(alias);
  }

  /** The layer for `alias`; throws {@linkcode LayerNotFoundError} naming the known aliases. */
  get(alias: string = DEFAULT_LAYER): ChannelLayer {
    const layer = this.#layers.get(alias);
    if (layer) return layer;
    const factory = this.#factories.get(alias);
    if (factory) {
      const made = factory();
      this.#layers.set(alias, made);
      return made;
    }
    throw this.missing(alias)!;
  }

  /**
   * `undefined` when something is registered under `alias` (without making it); otherwise the
   * {@linkcode LayerNotFoundError} that {@linkcode LayerRegistry.get} would throw, its message
   * after `context`.
   */
  missing(alias: string, context = ""): LayerNotFoundError | undefined {
    if (this.has(alias)) return undefined;
    return new LayerNotFoundError(
      `${context}No channel layer is registered under '${alias}' (registered: ${
        this.aliases().map((a) => `'${a}'`).join(", ") || "none"
      }). Call layers.register('${alias}', layer) at startup.`,
    );
  }

  /** Registered aliases, in registration order. */
  aliases(): string[] {
    return [...new Set([...this.#layers.keys(), ...this.#factories.keys()])];
  }

  /** Removes `alias` without closing its layer; returns the layer if it was made. */
  unregister(alias: string): ChannelLayer | undefined {
    const layer = this.#layers.get(alias);
    this.#layers.delete(alias);
    this.#factories.delete(alias);
    return layer;
  }

  /**
   * Closes every layer made so far and forgets it. Aliases registered with a factory stay
   * registered and make a fresh layer on next use; aliases registered with an instance are gone.
   */
  async closeAll(): Promise<void> {
    const made = [...new Set(this.#layers.values())];
    for (const alias of this.#layers.keys()) {
      if (!this.#factories.has(alias)) this.#layers.delete(alias);
    }
    this.#layers.clear();
    await Promise.all(made.map((l) => l.close()));
  }
}

/** The process-wide registry consumers use. */
export const layers: LayerRegistry = new LayerRegistry();
