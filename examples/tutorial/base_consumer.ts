/**
 * The tutorial's base consumer: completion signals come from the SEND_COMPLETION environment
 * variable (the test task sets it), as in the testing chapter.
 */
import { type AnyMessage, Consumer } from "../../mod.ts";

function envFlag(name: string): boolean {
  try {
    return Boolean(Deno.env.get(name));
  } catch {
    return false;
  }
}

/** Every tutorial consumer extends this. */
export class BaseConsumer<Events extends AnyMessage = AnyMessage> extends Consumer<Events> {
  /** On when SEND_COMPLETION is set to any non-empty value. */
  static override get sendCompletion(): boolean {
    return envFlag("SEND_COMPLETION");
  }
}
