/**
 * The AsyncAPI docs page: AsyncAPI's standalone React component rendering an inlined document.
 * The script and stylesheet come from a configurable base URL (a pinned CDN version by default).
 *
 * @module
 */

/** The pinned `@asyncapi/react-component` version the page loads by default. */
export const REACT_COMPONENT_VERSION = "3.2.1";

/** The default base URL of the component's files (unpkg, pinned). */
export const DEFAULT_ASSETS_BASE_URL: string =
  `https://unpkg.com/@asyncapi/react-component@${REACT_COMPONENT_VERSION}`;

/** The standalone bundle, relative to the base URL (as in the npm package). */
export const STANDALONE_SCRIPT_PATH = "browser/standalone/index.js";

/** The default stylesheet, relative to the base URL (as in the npm package). */
export const STYLESHEET_PATH = "styles/default.min.css";

/**
 * The page's font stacks: system fonts only (no web font, so the page renders the same offline).
 * The component's stylesheet sets its sans-serif stack on `.aui-root html`, which matches
 * nothing, so without this the text falls back to the browser's default serif font.
 */
export const PAGE_FONT_STYLE: string =
  `body, .aui-root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", ` +
  `"Noto Sans", "Liberation Sans", "DejaVu Sans", Arial, sans-serif; margin: 0; }\n` +
  `  code, pre, kbd, samp { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, ` +
  `"Liberation Mono", "DejaVu Sans Mono", monospace; }`;

/** Options of {@linkcode renderAsyncApiHtml}. */
export interface AsyncApiHtmlOptions {
  /**
   * Where the component's files live: `<base>/browser/standalone/index.js` and
   * `<base>/styles/default.min.css`. Default {@linkcode DEFAULT_ASSETS_BASE_URL}.
   */
  assetsBaseUrl?: string;
  /** The page title (default: the document's `info.title`). */
  title?: string;
  /** The component's `config` prop (default `{show: {sidebar: true}}`). */
  config?: Record<string, unknown>;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/**
 * JSON safe to inline in a `<script>` element: `<`, `>`, `&`, U+2028 and U+2029 are written as
 * `\u` escapes, so no string in the document can close the script or break the JavaScript parse.
 */
export function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function baseUrl(options: AsyncApiHtmlOptions): string {
  return (options.assetsBaseUrl ?? DEFAULT_ASSETS_BASE_URL).replace(/\/+$/, "");
}

/** The HTML page rendering `document` with `AsyncApiStandalone.render`. */
export function renderAsyncApiHtml(
  document: { readonly info?: { readonly title?: string } },
  options: AsyncApiHtmlOptions = {},
): string {
  const base = baseUrl(options);
  const title = options.title ?? document.info?.title ?? "AsyncAPI documentation";
  const config = options.config ?? { show: { sidebar: true } };
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="${escapeHtml(`${base}/${STYLESHEET_PATH}`)}">
  <style>
  ${PAGE_FONT_STYLE}
  </style>
</head>
<body>
  <div id="asyncapi"></div>
  <script src="${escapeHtml(`${base}/${STANDALONE_SCRIPT_PATH}`)}"></script>
  <script>
    AsyncApiStandalone.render(
      { schema: ${inlineJson(document)}, config: ${inlineJson(config)} },
      document.getElementById("asyncapi"),
    );
  </script>
</body>
</html>
`;
}

/** The page shown when the document cannot be generated: the reason, escaped. */
export function renderAsyncApiErrorHtml(reason: string, title = "AsyncAPI documentation"): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${escapeHtml(title)}</title>
</head>
<body>
  <div style="font-family: sans-serif; margin: 2em; padding: 1em; border: 1px solid #d33; color: #a00">
    <h3>Error</h3>
    <p>Failed to generate the AsyncAPI document: ${escapeHtml(reason)}</p>
  </div>
</body>
</html>
`;
}
