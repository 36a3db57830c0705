/**
 * The plain-text answers of the app (refused upgrades, HTTP errors), and the 500 that hides the
 * failure behind an error id.
 *
 * @module
 */
import { getLogger } from "../logger.ts";

/** A `text/plain` response. */
export function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * A 500 that tells the client nothing about the failure but an id, which the error log line
 * carries too (`fields.errorId`): the exception's text stays in the server log.
 */
export function serverError(
  logMessage: string,
  error: unknown,
  what = "Internal server error",
): Response {
  const errorId = crypto.randomUUID();
  getLogger().error(logMessage, { error, errorId });
  return text(500, `${what} (error id ${errorId})`, { "x-error-id": errorId });
}
