/**
 * {@linkcode KeptRequest}: what an accepted connection keeps of its upgrade request — its URL,
 * method and headers as strings — instead of the `Request` object itself. Taken before the runtime
 * upgrades: on Deno an upgraded request's headers throw "Request closed", so a handler could not
 * read them; and on Node the object (header list, URL record, abort signal, internal state: about
 * 1.4 KiB) would stay with every idle connection. A consumer's `this.request` after the upgrade is
 * an equivalent `Request` rebuilt from them on first use, then the same object every time.
 *
 * @module
 */

/** An upgrade request's URL, method and headers, and the `Request` rebuilt from them on demand. */
export class KeptRequest {
  readonly #url: string;
  readonly #method: string;
  /** `name:value` lines joined with `\n` (neither may hold a line break; names hold no `:`). */
  readonly #headers: string;
  #request: Request | undefined;

  /** Keeps what `request` says (its body, signal and anything set on it are not kept). */
  constructor(request: Request) {
    this.#url = request.url;
    this.#method = request.method;
    // Read through a copy (with no signal tied to the original's): iterating a Headers caches a
    // sorted list on it, and a runtime that keeps the original Request (Deno does) would keep
    // that cache with every idle connection.
    const lines: string[] = [];
    for (const [name, value] of new Request(request, { signal: null }).headers) {
      lines.push(`${name}:${value}`);
    }
    this.#headers = lines.join("\n");
  }

  /** The request's URL (no `Request` is rebuilt for it). */
  get url(): string {
    return this.#url;
  }

  /** An equivalent `Request`, rebuilt on first use. */
  get request(): Request {
    return this.#request ??= new Request(this.#url, {
      method: this.#method,
      headers: this.#pairs(),
    });
  }

  #pairs(): [string, string][] {
    if (!this.#headers) return [];
    return this.#headers.split("\n").map((line) => {
      const at = line.indexOf(":");
      return [line.slice(0, at), line.slice(at + 1)];
    });
  }
}
