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

/** Requests the runtime keeps after their upgrade (see {@linkcode markKeptByRuntime}). */
const keptByRuntime = new WeakSet<Request>();

/**
 * Says that the runtime keeps `request` after the upgrade (Deno's `upgradeWebSocket` does), so its
 * headers are read through a copy: iterating a Headers caches a sorted list on it, which would
 * stay with every idle connection. A request the adapter drops after the upgrade (Node's, Bun's)
 * is read as it is: the copy (about 17 KB of garbage per connect on Deno, more with undici) would
 * only grow the young generation during a connect burst.
 */
export function markKeptByRuntime(request: Request): void {
  keptByRuntime.add(request);
}

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
    // A request the runtime keeps is read through a copy (with no signal tied to the original's,
    // see markKeptByRuntime), and taken out of the set: its entry would stay as long as the request.
    const source = keptByRuntime.delete(request) ? new Request(request, { signal: null }) : request;
    const lines: string[] = [];
    // forEach, not for…of: Deno's Headers iterator rebuilds its sorted list at every step of a
    // copy (whose headers are not immutable, so it is not cached): 11 KB of garbage per connect.
    source.headers.forEach((value, name) => lines.push(`${name}:${value}`));
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
