/**
 * Layers registered by alias. Consumers name their layer (`static layer = "chat"`); static
 * `sendEvent` / `broadcastEvent` find it here from any code in the process.
 *
 * The `default` alias is built in: the first time something asks for it and nothing was
 * registered under it, the registry registers a factory of {@linkcode InMemoryChannelLayer} and
 * makes one. Importing the package registers nothing (no import side effect).
 *
 * @module
 */
import { LayerNotFoundError } from "../errors.ts";
import type { ChannelLayer } from "./layer.ts";
import { InMemoryChannelLayer } from "./memory.ts";

/** The alias used when a consumer names no layer. */
export const DEFAULT_LAYER = "default";

/** A factory that makes the layer for an alias the first time it is needed. */
export type LayerFactory = () => ChannelLayer;

/**
 * Alias → layer. The `default` alias makes an in-memory layer on first use unless something else
 * was registered under it; `register("default", …)` replaces it, `unregister("default")` removes
 * it (as for any alias).
 */
export class LayerRegistry {
  #layers = new Map<string, ChannelLayer>();
  #factories = new Map<string, LayerFactory>();
  /** True until `default` is first used, registered or unregistered. */
  #builtinDefault = true;

  /** Registers the built-in default on first use: a factory of one in-memory layer. */
  #materialize(alias: string): void {
    if (alias !== DEFAULT_LAYER || !this.#builtinDefault) return;
    this.#builtinDefault = false;
    this.#factories.set(DEFAULT_LAYER, () => new InMemoryChannelLayer());
  }

  /** Registers `layer` under `alias`, replacing (not closing) any previous one. */
  register(alias: string, layer: ChannelLayer | LayerFactory): this {
    if (alias === DEFAULT_LAYER) this.#builtinDefault = false;
    if (typeof layer === "function") {
      this.#layers.delete(alias);
      this.#factories.set(alias, layer);
    } else {
      this.#factories.delete(alias);
      this.#layers.set(alias, layer);
    }
    return this;
  }

  /** True when something is registered under `alias` (always, for the built-in `default`). */
  has(alias: string): boolean {
    return this.#layers.has(alias) || this.#factories.has(alias) ||
      (alias === DEFAULT_LAYER && this.#builtinDefault);
  }

  /** The layer for `alias`; throws {@linkcode LayerNotFoundError} naming the known aliases. */
  get(alias: string = DEFAULT_LAYER): ChannelLayer {
    this.#materialize(alias);
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
        this.#available().map((a) => `'${a}'`).join(", ") || "none"
      }). Call layers.register('${alias}', layer) at startup.`,
    );
  }

  /**
   * Registered aliases, in registration order. The built-in `default` is listed once it was
   * first used (or registered).
   */
  aliases(): string[] {
    return [...new Set([...this.#layers.keys(), ...this.#factories.keys()])];
  }

  /** The aliases `get` would answer: the registered ones and a built-in `default` not yet made. */
  #available(): string[] {
    return this.#builtinDefault ? [DEFAULT_LAYER, ...this.aliases()] : this.aliases();
  }

  /** Removes `alias` without closing its layer; returns the layer if it was made. */
  unregister(alias: string): ChannelLayer | undefined {
    if (alias === DEFAULT_LAYER) this.#builtinDefault = false;
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
