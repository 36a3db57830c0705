/**
 * Run-time agreement between what a typed client trusts — a consumer's `static api =
 * clientApi({ send })` and its `static broadcasts` — and its decorators.
 * Server-side only (it reads the handler tables); the browser client never imports it.
 *
 * @module
 */
import type { App } from "../src/app/app.ts";
import { DefinitionError } from "../src/errors.ts";
import { type HandlerHost, handlerTable, mergedStatic } from "../src/consumer/handlers.ts";
import type { ClientApi } from "./client.js";

/** Any class whose static `api` and `broadcasts` can be checked: a consumer or a topic. */
// deno-lint-ignore no-explicit-any
export type AnyClass = abstract new (...args: any[]) => unknown;

function apiOf(cls: AnyClass): ClientApi | undefined {
  const api = (cls as unknown as { api?: unknown }).api;
  if (api === undefined) return undefined;
  const a = api as Partial<ClientApi> & { receive?: unknown };
  if (!a || !Array.isArray(a.send)) {
    throw new DefinitionError(`${cls.name}.api must be made with clientApi({ send: [...] })`);
  }
  if (a.receive !== undefined) {
    throw new DefinitionError(
      `${cls.name}.api has a 'receive' list: list what the consumer sends outside replies in ` +
        "`static broadcasts = [...]` instead (replies come from the handlers' return types)",
    );
  }
  return a as ClientApi;
}

/** `static broadcasts` merged across the class chain (like `passthroughEvents`), each list checked. */
function broadcastsOf(cls: AnyClass): readonly { action: string }[] {
  for (let c: unknown = cls; typeof c === "function"; c = Object.getPrototypeOf(c)) {
    if (!Object.hasOwn(c, "broadcasts")) continue;
    const list = (c as { broadcasts?: unknown }).broadcasts ?? [];
    if (
      !Array.isArray(list) ||
      !list.every((t) => t && typeof (t as { action?: unknown }).action === "string")
    ) {
      throw new DefinitionError(
        `${c.name}.broadcasts must list message types made with message(): static broadcasts = [Said]`,
      );
    }
  }
  return mergedStatic<{ action: string }>(cls as unknown as HandlerHost, "broadcasts");
}

/**
 * Checks `cls` (a consumer or topic) against its handlers, so the types a typed client trusts
 * cannot drift from what the server does:
 * - `api.send` (if declared) must list exactly the actions of its `@wsHandler`s;
 * - each of `static broadcasts` (merged across the class chain: a subclass adds to its parent's
 *   list) must be a declared handler `output` (of a `@wsHandler` or an `@eventHandler`) or a
 *   passthrough event.
 *
 * What clients receive as replies comes from the handlers' return types, so nothing else needs
 * declaring. Throws a {@linkcode DefinitionError} naming every mismatch.
 */
export function checkClientApi(cls: AnyClass): void {
  const api = apiOf(cls);
  const broadcasts = broadcastsOf(cls);
  if (!api && !broadcasts.length) return;
  const table = handlerTable(cls);
  const problems: string[] = [];
  if (api) {
    const send = new Set(api.send.map((t) => t.action));
    for (const action of send) {
      if (!table.ws.has(action)) {
        problems.push(`api.send lists '${action}' but no @wsHandler takes it`);
      }
    }
    for (const action of table.ws.keys()) {
      if (!send.has(action)) problems.push(`@wsHandler for '${action}' is missing from api.send`);
    }
  }
  const produced = new Set<string>();
  for (const h of [...table.ws.values(), ...table.events.values()]) {
    for (const o of h.output) produced.add(o.action);
  }
  for (const { action } of broadcasts) {
    if (!produced.has(action)) {
      problems.push(
        `broadcasts lists '${action}' but no handler declares it as an output or passthrough ` +
          "event (add it to the `output` of the handler that sends it)",
      );
    }
  }
  if (problems.length) {
    throw new DefinitionError(`${cls.name} disagrees with its handlers: ${problems.join("; ")}`);
  }
}

/** Checks every mounted consumer of `app` and its topics with {@linkcode checkClientApi}. */
export function checkClientApis(app: App): void {
  for (const route of app.routes) {
    checkClientApi(route.consumer);
    for (const topic of route.consumer.topics) checkClientApi(topic);
  }
}
