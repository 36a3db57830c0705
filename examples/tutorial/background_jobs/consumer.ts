/** Tutorial part 3: background jobs whose results are pushed to the connection that asked. */
import {
  channel,
  ErrorMessage,
  eventHandler,
  type MessageOf,
  Ping,
  Pong,
  wsHandler,
} from "../../../mod.ts";
import type { JobHandle } from "../../../src/jobs/contract.ts";
import { BaseConsumer } from "../base_consumer.ts";
import { ExtraEventHandlerMixin, type ExtraEventMessage } from "../mixins.ts";
import { maxJobsPerConnection } from "../settings.ts";
import { JobMessage, JobResult, JobStatusMessage } from "./messages.ts";

type Events = MessageOf<typeof JobResult> | MessageOf<typeof ExtraEventMessage>;

/** Statuses after which a job no longer counts against its connection's limit. */
const DONE = new Set(["completed", "failed", "not_found"]);

/**
 * Queues jobs on the job queue; a worker (anywhere) sends each result back with `sendEvent`.
 * One connection may have at most `MAX_JOBS_PER_CONNECTION` (default 5) jobs queued or running:
 * beyond that it gets a `too_many_jobs` error frame and the job is not queued, so one socket
 * cannot fill the queue and make every other user wait.
 */
@channel({
  name: "background_jobs",
  description: "Background Jobs Consumer - Real background job processing on the job queue",
  tags: ["jobs", "background"],
})
export class BackgroundJobConsumer extends ExtraEventHandlerMixin(BaseConsumer<Events>) {
  static override layer = "chat";
  static override groups = ["background_jobs"];
  /** Jobs one connection may have in flight (queued or running). */
  static maxJobsInFlight: number = maxJobsPerConnection();

  /** This connection's jobs that may still be in flight, by id. */
  readonly #jobs = new Map<string, JobHandle>();
  /** Jobs being enqueued right now (counted before the enqueue is awaited). */
  #enqueuing = 0;

  /** Forgets finished jobs; returns how many are still in flight. */
  async #inFlight(): Promise<number> {
    const max = (this.constructor as typeof BackgroundJobConsumer).maxJobsInFlight;
    if (this.#jobs.size + this.#enqueuing < max) return this.#jobs.size + this.#enqueuing;
    await Promise.all([...this.#jobs].map(async ([id, handle]) => {
      try {
        if (DONE.has(await handle.status())) this.#jobs.delete(id);
      } catch {
        // the queue cannot answer: the job keeps counting
      }
    }));
    return this.#jobs.size + this.#enqueuing;
  }

  override async postAuthentication(): Promise<void> {
    await this.sendMessage(JobStatusMessage.create({
      status: "connected",
      message: "🔄 Background Job Processor: Connected!",
    }));
  }

  @wsHandler(Ping, { output: Pong, summary: "Handle ping requests" })
  handlePing(_message: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(JobMessage, {
    output: JobStatusMessage,
    summary: "Handle job processing requests",
    description: "Process job requests by queuing them on the job queue",
  })
  async handleJob(message: MessageOf<typeof JobMessage>): Promise<void> {
    const { type, content } = message.payload;
    const max = (this.constructor as typeof BackgroundJobConsumer).maxJobsInFlight;
    if (await this.#inFlight() >= max) {
      await this.sendMessage(ErrorMessage.create([{
        type: "too_many_jobs",
        loc: ["payload"],
        msg: `Too many jobs in flight: at most ${max} per connection; wait for a result`,
      }]));
      return;
    }
    this.#enqueuing++; // the slot is taken before anything is awaited
    let reserved = true;
    const release = () => {
      if (reserved) this.#enqueuing--;
      reserved = false;
    };
    try {
      const shown = content.length > 200 ? `${content.slice(0, 200)}…` : content;
      await this.sendMessage(JobStatusMessage.create({
        status: "queuing",
        message: `⏳ Queuing ${type} job: ${shown}`,
      }));
      // Imported lazily: the worker's task module imports this consumer.
      const { enqueueJob } = await import("./queue.ts");
      const handle = await enqueueJob(type, content, this.channelName);
      this.#jobs.set(handle.id, handle);
      release();
      await this.sendMessage(JobStatusMessage.create({
        status: "queued",
        job_id: handle.id,
        message: `📋 Job ${handle.id} queued successfully! Worker will process it shortly...`,
      }));
    } catch (error) {
      release();
      await this.sendMessage(JobStatusMessage.create({
        status: "error",
        message: `❌ Error queuing job: ${(error as Error)?.message ?? String(error)}`,
      }));
    }
  }

  @eventHandler(JobResult, { output: JobStatusMessage, summary: "Push a job result to its client" })
  handleJobResult(event: MessageOf<typeof JobResult>): MessageOf<typeof JobStatusMessage> {
    return JobStatusMessage.create({ status: "result", message: event.payload });
  }
}
