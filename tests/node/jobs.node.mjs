/**
 * A job round trip on Node: a client message → a job on the queue → a Worker → the result frame
 * pushed to the connection that asked, over a real `ws` socket. In memory always; on Redis (a
 * RedisJobQueue and the Redis pub/sub layer) when REDIS_URL is set.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { describe, it } from "node:test";
import {
  App,
  Consumer,
  EVENT_ACTION_COMPLETE,
  layers,
  message,
  onEvent,
  onMessage,
  registerHandlers,
  Worker,
} from "@switchboard/switchboard";
import { InMemoryChannelLayer, InMemoryJobQueue } from "@switchboard/switchboard/adapters/memory";
import { RedisJobQueue, RedisPubSubChannelLayer } from "@switchboard/switchboard/adapters/redis";
import { z } from "zod";
import { harness } from "./helpers.mjs";

const REDIS_URL = process.env.REDIS_URL;

const Reverse = message("reverse", z.object({ text: z.string() }));
const Queued = message("queued", z.object({ jobId: z.string() }));
const Reversed = message("reversed", z.string());
const Done = message("done", z.object({ text: z.string() }));

function setup(backend) {
  const alias = `node-jobs-${backend}-${process.pid}`;
  const prefix = `sb-node-jobs-${process.pid}-${Date.now()}`;
  const layer = backend === "redis"
    ? new RedisPubSubChannelLayer({ url: REDIS_URL, prefix })
    : new InMemoryChannelLayer();
  layers.register(alias, layer);
  const queue = backend === "redis"
    ? new RedisJobQueue({ url: REDIS_URL, prefix: `${prefix}:jobs` })
    : new InMemoryJobQueue();

  class JobsConsumer extends Consumer {
    static layer = alias;
    static sendCompletion = true;
    async handleReverse(m) {
      const job = await queue.enqueue("reverse", [m.payload.text, this.channelName]);
      return Queued.create({ jobId: job.id });
    }
    handleDone(e) {
      return Done.create({ text: e.payload });
    }
  }
  registerHandlers(JobsConsumer, {
    handleReverse: onMessage(Reverse, { output: Queued }),
    handleDone: onEvent(Reversed, { output: Done }),
  });

  const worker = new Worker(queue, {
    functions: {
      async reverse(_ctx, text, channelName) {
        const out = [...text].reverse().join("");
        await JobsConsumer.sendEvent(Reversed.create(out), channelName);
        return out;
      },
    },
  });
  const app = new App().ws("/jobs", JobsConsumer);
  return {
    app,
    worker,
    queue,
    async close() {
      await worker.stop();
      await queue.close();
      layers.unregister(alias);
      await layer.close();
    },
  };
}

for (const backend of ["memory", "redis"]) {
  describe(
    `job round trip on Node (${backend})`,
    { skip: backend === "redis" && !REDIS_URL },
    () => {
      it("message → job → worker → result frame to the connection that asked", async () => {
        const s = setup(backend);
        const h = await harness(s.app, "socket");
        try {
          const comm = await h.connect("/jobs");
          await comm.sendMessage(Reverse.create({ text: "switchboard" }));
          const [queued] = await comm.receiveAllMessages();
          assert.equal(queued.action, "queued");
          assert.deepEqual(await s.worker.runBurst(), { completed: 1, failed: 0, retried: 0 });
          assert.deepEqual(await comm.receiveAllMessages({ stopAction: EVENT_ACTION_COMPLETE }), [
            Done.create({ text: "draobhctiws" }),
          ]);
          const job = await s.queue.getJob(queued.payload.jobId);
          assert.equal(await job.result(), "draobhctiws");
          await comm.disconnect();
        } finally {
          await h.close();
          await s.close();
        }
      });
    },
  );
}
