/**
 * Everything a channel layer implementation needs from the core, in one import.
 *
 * @module
 */
export * from "./layer.ts";
export * from "./names.ts";
export * from "../errors.ts";
export { getLogger, type Logger } from "../logger.ts";
export { onAbort } from "../abort.ts";
