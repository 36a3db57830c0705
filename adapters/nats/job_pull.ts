/**
 * {@linkcode ReadyPuller}: takes one message from the job queue's ready stream with a JetStream
 * pull request (`$JS.API.CONSUMER.MSG.NEXT`, `no_wait`) and never leaves a claim hanging on it.
 *
 * nats-server (2.9) answers a `no_wait` pull at once with 404 when nothing is pending, but a
 * pull that arrives while a message is still undelivered and then loses that message to another
 * pull is parked as a waiting request with no expiry: no answer until the next message. Adding
 * `expires` gets it an answer, but then every pull on an empty stream waits the whole `expires`.
 * So pulls of one connection go one at a time (they never race each other), and a pull that
 * stays silent for `PARK_MS` (it raced a pull of another connection) counts as "nothing now"
 * once the server answers a ping: its inbox is unsubscribed then, and nats-server skips a waiting
 * request whose inbox has no interest left, so a later message goes to a live pull, not to an
 * inbox nobody reads (which would hold it until the consumer's ack wait). Keeping the inbox and
 * putting back (NAK) what reaches it late was tried: the put-back message makes the server park
 * the next concurrent pulls again, a park per message under contention.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { createInbox } from "@nats-io/transport-node";
import { JobQueueUnavailableError } from "../../src/jobs/contract.ts";

/** A message taken from the ready stream. */
export interface ReadyMessage {
  /** The job id and ticket it carries (undefined when it is not one of ours). */
  body: { id: string; ticket: string } | undefined;
  /** How many times it was delivered (1 the first time). */
  delivered: number;
  /** Acknowledges it (removes it from the stream). */
  ack(): void;
  /** Puts it back, delivered again after `delayMs`. */
  nak(delayMs: number): void;
}

/**
 * A pull not answered within this many ms is taken as parked by the server (see above). A
 * healthy answer takes 1-2 ms; the margin is for a loaded server: a pull given up while its
 * message is on the way would leave that message in a dead inbox until the ack wait.
 */
export const PARK_MS = 500;

const decoder = new TextDecoder();

/** Pulls from one durable consumer, one pull at a time per connection. */
export class ReadyPuller {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #timeoutMs: number;
  #last: Promise<unknown> = Promise.resolve();
  /** Ends the pull in flight (there is at most one). */
  #end: (() => void) | undefined;

  /** `stream`/`consumer` name the durable consumer; `timeoutMs` bounds a pull. */
  constructor(nc: NatsConnection, stream: string, consumer: string, timeoutMs: number) {
    this.#nc = nc;
    this.#subject = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`;
    this.#timeoutMs = timeoutMs;
  }

  /** Ends the pull in flight, answering "nothing" (the queue closes). */
  close(): void {
    this.#end?.();
  }

  /** The next ready message, or undefined when there is none now. */
  take(): Promise<ReadyMessage | undefined> {
    const taken = this.#last.then(() => this.#pull(), () => this.#pull());
    this.#last = taken.catch(() => {});
    return taken;
  }

  #pull(): Promise<ReadyMessage | undefined> {
    const nc = this.#nc;
    const inbox = createInbox();
    return new Promise((resolve, reject) => {
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        clearTimeout(parked);
        this.#end = undefined;
        if (!sub.isClosed()) sub.unsubscribe();
        fn();
      };
      this.#end = () => settle(() => resolve(undefined));
      const timer = setTimeout(() => {
        settle(() =>
          reject(
            new JobQueueUnavailableError(
              `NATS did not answer a claim within ${this.#timeoutMs} ms`,
            ),
          )
        );
      }, this.#timeoutMs);
      const parked = setTimeout(() => {
        // Silent for PARK_MS: parked, if the server still answers a ping (else: the timeout).
        nc.flush().then(() => {
          if (!sub.isClosed()) settle(() => resolve(undefined));
        }, () => {});
      }, PARK_MS);
      const sub = nc.subscribe(inbox, {
        max: 1,
        callback: (error, msg) => {
          if (error) {
            settle(() => reject(new JobQueueUnavailableError(`claiming a job: ${error.message}`)));
            return;
          }
          const code = msg.headers?.code ?? 0;
          if (code === 503) {
            settle(() => reject(new Error(`no responders (${code}): consumer not found`)));
            return;
          }
          // 404 No Messages, 408, 409: nothing now.
          settle(() =>
            resolve(code >= 400 || !msg.reply ? undefined : readyMessage(nc, msg.reply, msg.data))
          );
        },
      });
      nc.publish(this.#subject, JSON.stringify({ batch: 1, no_wait: true }), { reply: inbox });
    });
  }
}

function readyMessage(nc: NatsConnection, reply: string, data: Uint8Array): ReadyMessage {
  let body: ReadyMessage["body"];
  try {
    const parsed = JSON.parse(decoder.decode(data));
    if (typeof parsed?.id === "string" && typeof parsed?.ticket === "string") body = parsed;
  } catch {
    body = undefined;
  }
  const tokens = reply.split(".");
  const delivered = Number(tokens.length >= 11 ? tokens[6] : tokens[4]) || 1;
  return {
    body,
    delivered,
    ack: () => nc.publish(reply, "+ACK"),
    nak: (delayMs) =>
      nc.publish(
        reply,
        `-NAK ${JSON.stringify({ delay: Math.max(1, Math.round(delayMs)) * 1_000_000 })}`,
      ),
  };
}
