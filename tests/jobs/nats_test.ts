/**
 * The job queue contract on {@linkcode NatsJobQueue}, on a private nats-server with JetStream
 * (one per test file run; every queue gets a prefix of its own).
 *
 * @module
 */
import { NatsJobQueue } from "../../adapters/nats/job_queue.ts";
import { type NatsServer, startNats } from "../../testing/nats_server.ts";
import { skipReason } from "../../testing/services.ts";
import { jobQueueContract } from "./contract.ts";

const SKIP = skipReason("nats") ?? false;
let server: NatsServer | undefined;
let users = 0;

jobQueueContract({
  name: "NatsJobQueue",
  skip: SKIP,
  makeQueue: async (options = {}) => {
    // One server for the whole file, stopped when its last queue closes.
    server ??= await startNats();
    users++;
    const prefix = `sbtest${crypto.randomUUID().slice(0, 8)}`;
    const queue = new NatsJobQueue({ servers: server.url, prefix, ...options });
    const close = queue.close.bind(queue);
    let closed = false;
    queue.close = async () => {
      await close();
      if (closed) return;
      closed = true;
      if (--users === 0) {
        const s = server;
        server = undefined;
        await s?.stop();
      }
    };
    return queue;
  },
});
