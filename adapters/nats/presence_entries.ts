/**
 * Compare-and-set changes of the NATS presence backend's key entries (`e.<group>.<key>`, value
 * `{ref: {m, p}}`): {@linkcode changeEntry} reads the entry, lets an edit change it, and writes
 * it back only if nobody else wrote it meanwhile (retried), deleting it when it holds no
 * connection. Each write's revision goes to the counts (`presence_counts.ts`).
 *
 * @module
 */
import { Empty, headers } from "@nats-io/transport-node";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { PresenceUnavailableError } from "../../src/presence/backend.ts";
import type { KeyValue } from "./presence_codec.ts";

/** Most compare-and-set attempts of one change. */
const CAS_TRIES = 20;

/** Where an entry is and who hears of its writes. */
export interface EntryTarget {
  /** The bucket. */
  kv: KV;
  /** Its JetStream client (deletes). */
  js: JetStreamClient;
  /** The entry's KV key. */
  name: string;
  /** The entry's full subject (`$KV.<bucket>.<name>`). */
  subject: string;
  /** Called with the revision of each write. */
  wrote(revision: number): void;
  /** Names the entry in errors. */
  label: string;
}

/**
 * Changes the entry with compare-and-set; `edit` changes the value in place (false: leave it
 * alone). Returns the value before and after, or undefined when nothing was written.
 */
export async function changeEntry(
  target: EntryTarget,
  edit: (value: KeyValue) => boolean,
): Promise<{ before: KeyValue; after: KeyValue } | undefined> {
  const { kv, name } = target;
  for (let i = 0; i < CAS_TRIES; i++) {
    const got = await kv.get(name);
    const live = got && got.operation === "PUT";
    const before: KeyValue = live ? got.json<KeyValue>() : {};
    const after: KeyValue = { ...before };
    if (!edit(after)) return undefined;
    try {
      let revision: number;
      if (Object.keys(after).length === 0) {
        if (!live) return undefined;
        revision = await deleteEntry(target.js, target.subject, got.revision);
      } else if (!got) {
        revision = await kv.create(name, JSON.stringify(after));
      } else {
        revision = await kv.update(name, JSON.stringify(after), got.revision);
      }
      target.wrote(revision);
      return { before, after };
    } catch (error) {
      if (!/wrong last sequence|10071|key exists/i.test(String((error as Error)?.message))) {
        throw error;
      }
    }
  }
  throw new PresenceUnavailableError(`Presence: ${target.label} kept changing; gave up`);
}

/**
 * Deletes a KV entry (its full subject) if `previous` is still its revision, with the marker the
 * KV client writes (`KV-Operation: DEL`), and returns the marker's revision (the KV client's
 * `delete` does not; the counts wait for it).
 */
async function deleteEntry(
  js: JetStreamClient,
  subject: string,
  previous: number,
): Promise<number> {
  const h = headers();
  h.set("KV-Operation", "DEL");
  const ack = await js.publish(subject, Empty, {
    headers: h,
    expect: { lastSubjectSequence: previous },
  });
  return ack.seq;
}
