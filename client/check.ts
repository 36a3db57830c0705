/**
 * Run-time agreement between a consumer's declared client API (`static api = clientApi({...})`)
 * and its decorators, so the types a typed client trusts cannot drift from what the server does.
 * Server-side only (it reads the handler tables); the browser client never imports it.
 *
 * @module
 */
import type { App } from "../src/app.ts";
import { DefinitionError } from "../src/errors.ts";
import { handlerTable } from "../src/handlers.ts";
import type { ClientApi } from "./client.js";

/** Any class whose static `api` can be checked: a consumer or a topic. */
// deno-lint-ignore no-explicit-any
export type AnyClass = abstract new (...args: any[]) => unknown;

function apiOf(cls: AnyClass): ClientApi | undefined {
  const api = (cls as unknown as { api?: unknown }).api;
  if (api === undefined) return undefined;
  const a = api as Partial<ClientApi>;
  if (!a || !Array.isArray(a.send) || !Array.isArray(a.receive)) {
    throw new DefinitionError(`${cls.name}.api must be made with clientApi({ send, receive })`);
  }
  return a as ClientApi;
}

const PROTOCOL = new Set([
  "error",
  "complete",
  "group_complete",
  "event_complete",
  "subscribed",
  "unsubscribed",
]);

/**
 * Checks `cls.api` (if declared) against the handlers: `send` must list exactly the actions of
 * its `@wsHandler`s; `receive` must cover every handler `output` and passthrough event, and list
 * nothing the handlers do not declare. Throws a {@linkcode DefinitionError} naming every mismatch.
 */
export function checkClientApi(cls: AnyClass): void {
  const api = apiOf(cls);
  if (!api) return;
  const table = handlerTable(cls);
  const problems: string[] = [];
  const send = new Set(api.send.map((t) => t.action));
  for (const action of send) {
    if (!table.ws.has(action)) {
      problems.push(`api.send lists '${action}' but no @wsHandler takes it`);
    }
  }
  for (const action of table.ws.keys()) {
    if (!send.has(action)) problems.push(`@wsHandler for '${action}' is missing from api.send`);
  }
  const produced = new Set<string>();
  for (const h of [...table.ws.values(), ...table.events.values()]) {
    for (const o of h.output) produced.add(o.action);
  }
  const receive = new Set(api.receive.map((t) => t.action));
  for (const action of receive) {
    if (!produced.has(action) && !PROTOCOL.has(action)) {
      problems.push(
        `api.receive lists '${action}' but no handler declares it as an output or passthrough event`,
      );
    }
  }
  for (const action of produced) {
    if (!receive.has(action)) {
      problems.push(`'${action}' is a declared handler output missing from api.receive`);
    }
  }
  if (problems.length) {
    throw new DefinitionError(
      `${cls.name}.api disagrees with its handlers: ${problems.join("; ")}`,
    );
  }
}

/** Checks every mounted consumer of `app` and its topics with {@linkcode checkClientApi}. */
export function checkClientApis(app: App): void {
  for (const route of app.routes) {
    checkClientApi(route.consumer);
    for (const topic of route.consumer.topics) checkClientApi(topic);
  }
}
