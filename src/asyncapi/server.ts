/**
 * The document's server entry, from a configured URL or the request's Host header (client
 * input: parsed by linear scans).
 *
 * @module
 */
import type { AsyncApiServer } from "./document.ts";
import { trimRuns } from "./names.ts";

const LOCAL_HOST = /^(localhost|127\.0\.0\.1|0\.0\.0\.0|::1|\[::1\])(:\d+)?$/i;

/** The server entry for `serverUrl` / `serverProtocol` (see {@linkcode AsyncApiOptions}). */
export function asyncApiServer(
  serverUrl = "localhost:8000",
  serverProtocol?: string,
): Record<string, AsyncApiServer> {
  let rest = serverUrl.trim();
  let protocol = serverProtocol;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(rest);
  if (scheme) {
    rest = scheme[2];
    const s = scheme[1].toLowerCase();
    protocol ??= s === "https" ? "wss" : s === "http" ? "ws" : s;
  }
  const slash = rest.indexOf("/");
  const host = slash === -1 ? rest : rest.slice(0, slash);
  const pathname = slash === -1 ? "" : trimRuns(rest.slice(slash), "/", false);
  const server: AsyncApiServer = { host, protocol: protocol ?? "ws" };
  if (pathname) server.pathname = pathname;
  const env = host === "" || LOCAL_HOST.test(host) || /localhost/i.test(host)
    ? "development"
    : "production";
  return { [env]: server };
}
