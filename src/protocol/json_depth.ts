/**
 * The nesting limit of client frames: a linear scan of the frame text, run before `JSON.parse`,
 * so that a frame nested thousands deep is refused with a `json_too_deep` error frame instead of
 * overflowing the stack later (in `JSON.stringify` on every receiver of a broadcast, or in the
 * camelCase key conversion).
 *
 * @module
 */

/**
 * The default `maxJsonDepth`: how deep arrays and objects may nest in one client frame, the frame
 * object itself counting as level 1 (so a payload may nest 63 levels).
 */
export const DEFAULT_MAX_JSON_DEPTH = 64;

/**
 * True when `text` nests `[`/`{` deeper than `max` levels. One pass over the text, constant
 * memory: brackets inside strings (escapes included) do not count. Meant for text about to be
 * parsed: on text that is not JSON the answer is only a bound, and `JSON.parse` then reports it.
 */
export function jsonTooDeep(text: string, max: number): boolean {
  if (text.length <= max) return false; // each level takes a character: no scan needed
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
