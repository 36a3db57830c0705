/**
 * AsyncAPI endpoints for an app: `/asyncapi` (an HTML page rendered by AsyncAPI's React
 * component), `/asyncapi.json` and `/asyncapi.yaml`, plus the YAML form of a document. This is the
 * part with dependencies (`npm:yaml`); the generator is in the core (`src/asyncapi/`), the page
 * in `html.ts`, the command line in `cli/asyncapi.ts` (see docs/asyncapi.md).
 *
 * ```ts
 * import { App } from "@switchboard/switchboard";
 * import { mountAsyncApi } from "@switchboard/switchboard/asyncapi";
 *
 * const app = new App({ title: "Chat", description: "Chat over WebSockets" }).ws("/ws/chat", Chat);
 * mountAsyncApi(app, { localAssets: true }); // the page works offline
 * ```
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { stringify } from "yaml";
import type { App, HttpHandler } from "../../mod.ts";
import {
  type AsyncApiDocument,
  type AsyncApiOptions,
  generateAsyncApi,
} from "../../src/asyncapi/generator.ts";
import {
  type AsyncApiHtmlOptions,
  DEFAULT_ASSETS_BASE_URL,
  renderAsyncApiErrorHtml,
  renderAsyncApiHtml,
  STANDALONE_SCRIPT_PATH,
  STYLESHEET_PATH,
} from "./html.ts";

export {
  type AsyncApiDocument,
  AsyncApiError,
  type AsyncApiOptions,
  type AsyncApiSource,
  generateAsyncApi,
} from "../../src/asyncapi/generator.ts";
export {
  type AsyncApiHtmlOptions,
  DEFAULT_ASSETS_BASE_URL,
  inlineJson,
  REACT_COMPONENT_VERSION,
  renderAsyncApiHtml,
} from "./html.ts";

/** The document as YAML (block style, keys in document order, no anchors/aliases). */
export function asyncApiToYaml(document: AsyncApiDocument): string {
  return stringify(document, { aliasDuplicateObjects: false, lineWidth: 0 });
}

/** Options of {@linkcode mountAsyncApi}. */
export interface MountAsyncApiOptions extends AsyncApiOptions {
  /** The page's path; the document is at `<path>.json` and `<path>.yaml`. Default `/asyncapi`. */
  path?: string;
  /**
   * Where the page loads the React component from (`<base>/browser/standalone/index.js`,
   * `<base>/styles/default.min.css`). Default: the pinned unpkg URL. Ignored with `localAssets`.
   */
  assetsBaseUrl?: string;
  /**
   * Serve the component's files from the installed npm package `@asyncapi/react-component` at
   * `<path>/assets/…`, so the page works offline. `true` looks for
   * `node_modules/@asyncapi/react-component` in the working directory and its parents; a string
   * is the package directory itself.
   */
  localAssets?: boolean | string;
  /** The component's `config` prop (default `{show: {sidebar: true}}`). */
  config?: AsyncApiHtmlOptions["config"];
}

/** The request's `host` and ws/wss, for the document's server when none was configured. */
function serverFromRequest(request: Request): { serverUrl: string; serverProtocol: string } {
  const url = new URL(request.url);
  const forwarded = request.headers.get("x-forwarded-proto")?.split(",")[0].trim().toLowerCase();
  const secure = forwarded
    ? forwarded === "https" || forwarded === "wss"
    : url.protocol === "https:";
  return {
    serverUrl: request.headers.get("host") ?? url.host,
    serverProtocol: secure ? "wss" : "ws",
  };
}

function reasonOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body, null, 2), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/** Finds `node_modules/@asyncapi/react-component` from `start` upwards. */
async function findPackageDir(start: string): Promise<string | undefined> {
  let dir = start.replace(/\/+$/, "");
  for (;;) {
    const candidate = `${dir}/node_modules/@asyncapi/react-component`;
    try {
      await readFile(`${candidate}/package.json`);
      return candidate;
    } catch {
      // keep looking
    }
    const parent = dir.slice(0, dir.lastIndexOf("/"));
    if (parent === dir || parent === "") return undefined;
    dir = parent;
  }
}

function assetHandler(
  locate: () => Promise<string>,
  relative: string,
  contentType: string,
): HttpHandler {
  let cached: Promise<Uint8Array> | undefined;
  return async () => {
    cached ??= locate().then((dir) => readFile(`${dir}/${relative}`));
    let body: Uint8Array;
    try {
      body = await cached;
    } catch (error) {
      cached = undefined;
      return new Response(
        `AsyncAPI component file ${relative} is not available: ${reasonOf(error)}`,
        { status: 500, headers: { "content-type": "text/plain; charset=utf-8" } },
      );
    }
    return new Response(body as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": contentType, "cache-control": "public, max-age=3600" },
    });
  };
}

/**
 * Adds `GET <path>` (HTML), `<path>.json` and `<path>.yaml` to `app` (default path `/asyncapi`).
 * The document is generated per request from the app's current routes; unless `serverUrl` is
 * given, its server is the request's host (`wss` behind HTTPS). A generation error answers 500
 * with the reason (JSON `{"error": …}` for the document, an error box for the page).
 */
export function mountAsyncApi(app: App, options: MountAsyncApiOptions = {}): App {
  const {
    path = "/asyncapi",
    assetsBaseUrl,
    localAssets,
    config,
    ...generatorOptions
  } = options;
  const generate = (request: Request): AsyncApiDocument =>
    generateAsyncApi(app, {
      ...(generatorOptions.serverUrl === undefined ? serverFromRequest(request) : {}),
      ...generatorOptions,
    });

  let base = assetsBaseUrl ?? DEFAULT_ASSETS_BASE_URL;
  if (localAssets) {
    base = `${path}/assets`;
    let dir: Promise<string> | undefined;
    const locate = (): Promise<string> => {
      dir ??= (async () => {
        if (typeof localAssets === "string") return localAssets.replace(/\/+$/, "");
        const found = await findPackageDir(workingDirectory());
        if (!found) {
          throw new Error(
            "node_modules/@asyncapi/react-component was not found from the working directory " +
              "(add it to the imports and run `deno install`, or `npm install` it)",
          );
        }
        return found;
      })();
      dir.catch(() => dir = undefined);
      return dir;
    };
    app.get(
      `${base}/${STANDALONE_SCRIPT_PATH}`,
      assetHandler(locate, STANDALONE_SCRIPT_PATH, "text/javascript; charset=utf-8"),
    );
    app.get(
      `${base}/${STYLESHEET_PATH}`,
      assetHandler(locate, STYLESHEET_PATH, "text/css; charset=utf-8"),
    );
  }

  app.get(path, (request) => {
    try {
      const document = generate(request);
      return new Response(renderAsyncApiHtml(document, { assetsBaseUrl: base, config }), {
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    } catch (error) {
      return new Response(renderAsyncApiErrorHtml(reasonOf(error)), {
        status: 500,
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    }
  });
  app.get(`${path}.json`, (request) => {
    try {
      return json(200, generate(request));
    } catch (error) {
      return json(500, { error: `Failed to generate schema: ${reasonOf(error)}` });
    }
  });
  app.get(`${path}.yaml`, (request) => {
    try {
      return new Response(asyncApiToYaml(generate(request)), {
        headers: { "content-type": "application/yaml; charset=utf-8" },
      });
    } catch (error) {
      return json(500, { error: `Failed to generate schema: ${reasonOf(error)}` });
    }
  });
  return app;
}

function workingDirectory(): string {
  const g = globalThis as {
    Deno?: { cwd(): string };
    process?: { cwd(): string };
  };
  return g.Deno?.cwd() ?? g.process?.cwd() ?? ".";
}
