/**
 * Bounded echoes of client input: error frames and log lines quote what a client sent (an
 * unknown action, a topic, a path) cut to {@linkcode MAX_ECHO_LENGTH} characters, so a 1 MiB
 * frame never turns into a 1 MiB error frame or log line.
 *
 * @module
 */

/** Client-sent values quoted in error frames and logs are cut to this many characters. */
export const MAX_ECHO_LENGTH = 200;

/** What a cut value ends with, followed by how many characters were left out: `…[+1048376]`. */
export const TRUNCATION_MARKER = "…";

/**
 * `text` when it has at most `max` characters (UTF-16 code units), else its first `max`
 * characters followed by `…[+N]`, N being the number of characters left out. Never splits a
 * surrogate pair.
 *
 * `truncateForEcho("x".repeat(1000))` → `"xxx…x…[+800]"` (200 `x` kept).
 */
export function truncateForEcho(text: string, max: number = MAX_ECHO_LENGTH): string {
  if (text.length <= max) return text;
  let cut = max;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--; // keep a pair whole: drop its lone high half
  return `${text.slice(0, cut)}${TRUNCATION_MARKER}[+${text.length - cut}]`;
}

/**
 * A short description of a client-sent value for an error frame or a log line: a string as is,
 * anything else as JSON; either way cut by {@linkcode truncateForEcho}. Never throws.
 */
export function describeInput(value: unknown, max: number = MAX_ECHO_LENGTH): string {
  if (typeof value === "string") return truncateForEcho(value, max);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // a cycle or a BigInt: not from JSON.parse, but never throw while reporting an error
  }
  if (text === undefined) {
    try {
      text = String(value);
    } catch {
      text = typeof value;
    }
  }
  return truncateForEcho(text, max);
}
